/**
 * What a call records in OpenTelemetry ("knowing which instance
 * served a call"): through @opentelemetry/api only, so it costs nothing and
 * does nothing unless the application installs an SDK.
 */
import { SpanKind, SpanStatusCode, trace, type Span, type Tracer } from "@opentelemetry/api";
import type { Instance } from "../model/instance.js";

export const TRACER_NAME = "podreg";

export function podregTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

export interface CallAttributes {
  service: string;
  policy: string;
  route: string;
  attempt: number;
}

/** Starts the span of one logical call (all its attempts). */
export function startCallSpan(tracer: Tracer, name: string, service: string): Span {
  return tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: { "podreg.service": service } });
}

/** Records the instance chosen for an attempt; the last attempt's values stay on the span. */
export function recordPick(span: Span, instance: Instance, a: CallAttributes): void {
  span.setAttributes({
    "podreg.service": a.service,
    "podreg.policy": a.policy,
    "podreg.route": a.route,
    "podreg.attempt": a.attempt,
    "podreg.instance.id": instance.id,
    "server.address": instance.host,
    "server.port": instance.port,
    ...(instance.zone ? { "podreg.instance.zone": instance.zone } : {}),
  });
}

export function endCallSpan(span: Span, outcome: { ok: boolean; status?: number; error?: Error }): void {
  if (outcome.status !== undefined) span.setAttribute("http.response.status_code", outcome.status);
  if (outcome.error) span.recordException(outcome.error);
  if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error?.message ?? `status ${outcome.status}` });
  span.end();
}
