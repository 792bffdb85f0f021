/**
 * The default random source of the pickers (PickerContext.random left out):
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator, 128 bits of
 * state, passes PractRand and BigCrush), two outputs per number for the 53
 * bits of a double, seeded from Math.random.
 *
 * Why not Math.random: in a loop it took ~6.5 ns a number here against
 * ~3.3 ns for this (V8 calls a builtin; this inlines), and least_request
 * draws two numbers a pick: ~3 ns of ~30 at 1,000 instances. Neither is
 * cryptographic, nor needs to be: the numbers only spread calls. Uniform in
 * [0, 1) in multiples of 2^-53, as Math.random. Pass ctx.random to choose
 * another source (the tests pass seeded ones).
 */

// An Int32Array, not four module variables: those (context slots, heap numbers beyond the small-integer range) ran 2x slower.
const state = new Int32Array(4);

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
}

seedRandom((Math.random() * 2 ** 32) | 0, (Math.random() * 2 ** 32) | 0, (Math.random() * 2 ** 32) | 0);

/** Uniform in [0, 1): 27 high bits of one output and 26 of the next, as a 53-bit fraction. */
export function fastRandom(): number {
  const hi = next32(state) >>> 5;
  const lo = next32(state) >>> 6;
  return (hi * 67_108_864 + lo) / 9_007_199_254_740_992;
}
