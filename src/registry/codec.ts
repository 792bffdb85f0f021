/**
 * Annotation codecs: how registrations are written into, and read back from,
 * one Pod annotation. The value is base64 of a JSON array of `{k, v}` entries
 * (the format dubbo-go also uses). Codecs are pure: no I/O.
 */
export { CodecError, CodecBase64Error, CodecJsonError, CodecShapeError, CodecSizeError, CodecVersionError } from "../errors.js";

export interface AnnotationEntry {
  k: string;
  v: string;
}

/** A process's registration as a codec sees it. */
export interface CodecRegistration {
  service: string;
  protocol: string;
  /** Address written into the entry; "" = none (consumers use the pod IP), allowed only when the codec does not require a host. */
  host: string;
  port: number;
  weight: number;
  metadata: Readonly<Record<string, string>>;
  /** Epoch ms of registration. */
  registeredAt: number;
  /** The registering process's id, where the format records one (dubbo-go's `pid` param). */
  pid?: number;
}

/** An endpoint read back from entries. `host` undefined = use the pod's IP. */
export interface DecodedEndpoint {
  service: string;
  protocol: string;
  host?: string;
  port: number;
  weight?: number;
  metadata: Record<string, string>;
}

export interface AnnotationCodec {
  readonly name: string;
  /** Annotation holding the encoded entries. */
  readonly annotationKey: string;
  /** Label that marks a registered pod, and the value providers write. */
  readonly labelKey: string;
  readonly labelValue: string;
  /** Label selector consumers LIST+WATCH with. */
  readonly labelSelector: string;
  /** Entries must carry the address (dubbo-go's URL does); otherwise "" means "the pod IP". */
  readonly requiresHost: boolean;
  /** How its services are keyed by default: per namespace (native), or global (dubbo-go's RPC interfaces). */
  readonly scope: "namespace" | "global";
  /** Protocol of a registration that names none: what this format's consumers expect ("http" native, "dubbo" for dubbo-go). */
  readonly defaultProtocol: string;

  /** Annotation value -> entries. Throws CodecError (bad base64, bad JSON, not an array of {k: string, v: string}, oversize). */
  decode(value: string): AnnotationEntry[];
  /** Entries -> annotation value. */
  encode(entries: readonly AnnotationEntry[]): string;
  /** Provider endpoints in the entries; other entries (consumers, folders) are ignored. Throws CodecError on a malformed provider entry. */
  endpoints(entries: readonly AnnotationEntry[]): DecodedEndpoint[];
  /** What identifies a registration across restarts (same service, protocol, host and port => same registration). */
  identity(reg: Pick<CodecRegistration, "service" | "protocol" | "host" | "port">): string;
  /**
   * Existing entries with the registrations named in `drop` removed, every
   * registration in `add` written (replacing any entry of the same identity:
   * a restarted process never duplicates its entries), and entries of other
   * registrations kept in their order. Pure and deterministic.
   */
  apply(existing: readonly AnnotationEntry[], change: { drop: ReadonlySet<string>; add: readonly CodecRegistration[] }): AnnotationEntry[];
  /**
   * The states to write, in order, to go from `existing` to `next` (the last
   * is `next`). Formats whose readers notice only part of a change written at
   * once (dubbo-go) spread it over several writes; default: one write.
   */
  stages?(existing: readonly AnnotationEntry[], next: readonly AnnotationEntry[]): AnnotationEntry[][];
}
