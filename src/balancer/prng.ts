/**
 * The default random source of the pickers (PickerContext.random left out):
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator, 128 bits of
 * state, passes PractRand and BigCrush), two outputs per number for the 53
 * bits of a double, seeded from Math.random.
 *
 * Why not Math.random: in a loop it took ~6.5 ns a number here against
 * ~3.3 ns for this (V8 calls a builtin; this inlines), and least_request
 * draws two numbers a pick. Neither is cryptographic, nor needs to be: the
 * numbers only spread calls. Uniform in [0, 1) in multiples of 2^-53, as
 * Math.random. Pass ctx.random to choose another source (the tests pass
 * seeded ones).
 *
 * The numbers are made BATCH at a time (fill()) and handed out in order: the
 * same sequence as one at a time, but the generator's state stays in
 * registers for a batch instead of going through memory twice a number, and
 * fastRandom() is small enough that V8 still inlines a picker's pick(), with
 * its draws, into the caller (with least_request's pick() split for that, a
 * least_request pick at 1,000 instances took ~10-15% less: both versions in
 * one process, rounds interleaved). The generator remains the larger part of
 * such a pick: a 32-bit xorshift in its place saved another ~23%.
 */

// An Int32Array, not four module variables: those (context slots, heap numbers beyond the small-integer range) ran 2x slower.
const state = new Int32Array(4);
/** Numbers made ahead, BATCH at a time, with the state in locals; fastRandom() hands them out in order. */
const BATCH = 64;
const ahead = new Float64Array(BATCH);
/** next[0]: the index of the next number in `ahead`; BATCH when it is used up. */
const next = new Int32Array(1);

/** The next BATCH numbers of the sequence into `ahead`: next32()'s step, written out on locals, twice per number. */
function fill(): void {
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  for (let k = 0; k < BATCH; k++) {
    let t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (((c << 21) | (c >>> 11)) + t) | 0;
    const hi = t >>> 5;
    t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (((c << 21) | (c >>> 11)) + t) | 0;
    ahead[k] = (hi * 67_108_864 + (t >>> 6)) / 9_007_199_254_740_992;
  }
  state[0] = a;
  state[1] = b;
  state[2] = c;
  state[3] = d;
  next[0] = 0;
}

function next32(s: Int32Array): number {
  const a = s[0] as number;
  const b = s[1] as number;
  const c = s[2] as number;
  const d = s[3] as number;
  const t = (((a + b) | 0) + d) | 0;
  s[3] = (d + 1) | 0;
  s[0] = b ^ (b >>> 9);
  s[1] = (c + (c << 3)) | 0;
  s[2] = (((c << 21) | (c >>> 11)) + t) | 0;
  return t;
}

/** Seeds the generator; exported for the tests. */
export function seedRandom(a: number, b: number, c: number): void {
  state[0] = a;
  state[1] = b;
  state[2] = c;
  state[3] = 1;
  // sfc32's advice: discard the first outputs, which still show the seed.
  for (let k = 0; k < 15; k++) next32(state);
  // Numbers made from the previous seed are dropped: the sequence restarts from this one.
  next[0] = BATCH;
}

seedRandom((Math.random() * 2 ** 32) | 0, (Math.random() * 2 ** 32) | 0, (Math.random() * 2 ** 32) | 0);

/** Uniform in [0, 1): 27 high bits of one output and 26 of the next, as a 53-bit fraction (made by fill()). */
export function fastRandom(): number {
  let k = next[0] as number;
  if (k === BATCH) {
    fill();
    k = 0;
  }
  next[0] = k + 1;
  return ahead[k] as number;
}
