/** Annotation codecs by name, so configuration can pick one with a string. */
import { ConfigError } from "../../errors.js";
import type { AnnotationCodec } from "../codec.js";
import { createDubboGoCodec, type DubboGoCodecOptions } from "./dubbo-go.js";
import { createNativeCodec, type NativeCodecOptions } from "./native.js";

export { createDubboGoCodec, type DubboGoCodecOptions } from "./dubbo-go.js";
export { createNativeCodec, NATIVE_FORMAT_VERSION, type NativeCodecOptions } from "./native.js";
export { DEFAULT_MAX_BYTES, decodeEntries, type DecodeOptions } from "./entries.js";
export {
  base64StdPadded,
  base64UrlPadded,
  decodeBase64Strict,
  goJsonMarshalEntries,
  goParseQuery,
  goPathUnescape,
  goQueryEscape,
  goQueryUnescape,
  goValuesEncode,
} from "./go-compat.js";

export type CodecName = "native" | "dubbo-go";
export const CODEC_NAMES: readonly CodecName[] = ["native", "dubbo-go"];

export function codecByName(name: "native", options?: NativeCodecOptions): AnnotationCodec;
export function codecByName(name: "dubbo-go", options?: DubboGoCodecOptions): AnnotationCodec;
export function codecByName(name: CodecName, options?: NativeCodecOptions | DubboGoCodecOptions): AnnotationCodec;
/** Throws ConfigError for an unknown name (it usually comes from a flag or an environment variable). */
export function codecByName(name: CodecName, options?: NativeCodecOptions | DubboGoCodecOptions): AnnotationCodec {
  switch (name) {
    case "native":
      return createNativeCodec(options as NativeCodecOptions | undefined);
    case "dubbo-go":
      return createDubboGoCodec(options as DubboGoCodecOptions | undefined);
    default:
      throw new ConfigError(`unknown annotation codec ${JSON.stringify(name as string)}; expected one of ${CODEC_NAMES.join(", ")}`);
  }
}
