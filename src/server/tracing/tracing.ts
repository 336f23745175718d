import type { Logger } from 'pino';
import type { TracingConfig } from '../../config/observability-schema.js';
import { AssError, isAssError } from '../../shared/errors.js';

/**
 * The only attributes a span may carry: who, where, what was decided and how it ended. Never a
 * secret value, a key or token, a reason text or an error message (the OpenTelemetry layer drops
 * any other name, see otel.ts).
 */
export const SPAN_ATTRIBUTES = [
  'ass.tool', 'ass.agent.id', 'ass.namespace', 'ass.key', 'ass.tier', 'ass.decision', 'ass.backend.type', 'ass.outcome', 'ass.transport',
  'http.request.method', 'http.route', 'http.response.status_code',
] as const;
export type SpanAttributeName = (typeof SPAN_ATTRIBUTES)[number];
export type SpanAttributes = Partial<Record<SpanAttributeName, string | number | undefined>>;

/** A running span: more attributes once the step knows its result. */
export interface StepSpan {
  set(attributes: SpanAttributes): void;
}

/**
 * Traces of the pipeline's steps. `span` runs `fn` in a child of the current span; a throw ends
 * the span with status ERROR and `ass.outcome` = the error's code (never its message).
 */
export interface PipelineTracer {
  span<T>(name: string, attributes: SpanAttributes, fn: (span: StepSpan) => Promise<T>): Promise<T>;
  /** Exports what is buffered and stops (runtime close). */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Full OTLP/HTTP traces URL (…/v1/traces). */
  url: string;
  serviceName: string;
  sampleRatio: number;
}

const DEFAULT_SERVICE_NAME = 'agent-secret-store';

/** `…/v1/traces` for an OTLP/HTTP base address, as OTEL_EXPORTER_OTLP_ENDPOINT is read. */
function tracesUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith('/v1/traces') ? trimmed : `${trimmed}/v1/traces`;
}

function checkedUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AssError('CONFIG_INVALID', `${source} is not a URL; give the collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AssError('CONFIG_INVALID', `${source} must be an http:// or https:// URL (OTLP/HTTP).`);
  return value;
}

/**
 * Whether tracing is on, and where spans go: `observability.tracing` in the config, else the
 * standard environment (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or OTEL_EXPORTER_OTLP_ENDPOINT
 * + /v1/traces; OTEL_SERVICE_NAME; OTEL_TRACES_SAMPLER_ARG). OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none turn it off. Null: off, and no OpenTelemetry module is loaded.
 * @throws AssError CONFIG_INVALID for an endpoint that is not an http(s) URL, or a bad ratio.
 */
export function tracingOptions(config: TracingConfig | undefined, env: Record<string, string | undefined>): TracingOptions | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return null;
  const serviceName = config?.service_name ?? (env.OTEL_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME);
  if (config) return { url: tracesUrl(config.otlp_endpoint), serviceName, sampleRatio: config.sample_ratio };
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const baseEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!tracesEndpoint && !baseEndpoint) return null;
  const url = tracesEndpoint ? checkedUrl(tracesEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') : tracesUrl(checkedUrl(baseEndpoint!, 'OTEL_EXPORTER_OTLP_ENDPOINT'));
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  const sampleRatio = arg ? Number(arg) : 1;
  if (!Number.isFinite(sampleRatio) || sampleRatio < 0 || sampleRatio > 1) throw new AssError('CONFIG_INVALID', 'OTEL_TRACES_SAMPLER_ARG must be a number between 0 and 1.');
  return { url, serviceName, sampleRatio };
}

/**
 * The tracer for `options`, or null when tracing is off. The OpenTelemetry SDK and exporter are
 * imported here, only when tracing is on, so a server without it never loads them.
 */
export async function openTracing(options: TracingOptions | null, logger: Logger): Promise<PipelineTracer | null> {
  if (!options) return null;
  const { createOtelTracer } = await import('./otel.js');
  logger.info({ url: options.url, serviceName: options.serviceName, sampleRatio: options.sampleRatio }, 'OpenTelemetry tracing on');
  return createOtelTracer(options, logger);
}

/** `fn` inside a span when tracing is on; just `fn` when it is off (one branch, nothing allocated). */
export function traced<T>(tracer: PipelineTracer | null | undefined, name: string, attributes: SpanAttributes, fn: (span: StepSpan) => Promise<T>): Promise<T> {
  return tracer ? tracer.span(name, attributes, fn) : fn(NO_SPAN);
}

/** The span of a step when tracing is off: takes attributes and keeps nothing. */
export const NO_SPAN: StepSpan = { set: () => undefined };

/** The outcome recorded for a failed step: its error code, never its message. */
export function failureOutcome(error: unknown): string {
  if (isAssError(error)) return error.code;
  // HttpError and friends carry a fixed upper-case code; anything else is INTERNAL.
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z_]{0,63}$/.test(code) ? code : 'INTERNAL';
}
