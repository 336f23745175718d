import { z } from 'zod';

/**
 * `observability:` — optional OpenTelemetry traces of the pipeline's steps (auth, policy,
 * backend, audit). Off unless `tracing` is set here or the standard OTEL_* environment
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT) names a collector;
 * the OpenTelemetry SDK is loaded only then (docs/observability.md).
 */
export const TracingSchema = z
  .object({
    /** The collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318 (`/v1/traces` is appended unless present). */
    otlp_endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318' }),
    /** `service.name` on every span (default: OTEL_SERVICE_NAME, else agent-secret-store). */
    service_name: z.string().min(1).max(200).optional(),
    /** Share of traces kept, 0 to 1 (a parent's decision is followed). */
    sample_ratio: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(1),
  })
  .strict();

export const ObservabilitySchema = z.object({ tracing: TracingSchema.optional() }).strict();

export type TracingConfig = z.infer<typeof TracingSchema>;
export type ObservabilityConfig = z.infer<typeof ObservabilitySchema>;
