import { diag, DiagLogLevel, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node';
import type { Logger } from 'pino';
import { failureOutcome, SPAN_ATTRIBUTES, type PipelineTracer, type SpanAttributes, type TracingOptions } from './tracing.js';

const ALLOWED = new Set<string>(SPAN_ATTRIBUTES);
/** Names and ids are short; anything longer is cut so a span stays small. */
const MAX_ATTRIBUTE_LENGTH = 256;

/**
 * Security: only the listed attribute names pass, strings cut to 256 characters. A step cannot
 * put a value, a key or a message on a span even by mistake.
 */
function attributesOf(attributes: SpanAttributes): Attributes {
  const out: Attributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || !ALLOWED.has(name)) continue;
    out[name] = typeof value === 'string' ? value.slice(0, MAX_ATTRIBUTE_LENGTH) : value;
  }
  return out;
}

/**
 * OpenTelemetry traces over OTLP/HTTP (JSON), batched. The provider registers the
 * AsyncLocalStorage context manager, so a step's span is the child of the span it runs in (HTTP
 * request → auth, tool call → policy, backend, audit).
 */
export function createOtelTracer(options: TracingOptions, logger: Logger): PipelineTracer {
  // The SDK reports export failures through diag; the operator sees them as warnings (cut).
  diag.setLogger(
    {
      error: (message) => logger.warn({ otel: String(message).slice(0, 300) }, 'OpenTelemetry export problem'),
      warn: (message) => logger.warn({ otel: String(message).slice(0, 300) }, 'OpenTelemetry export problem'),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: options.url }))],
  });
  // Sets the context manager (and propagator) for the process; the tracer below is this provider's own.
  provider.register();
  const tracer = provider.getTracer('agent-secret-store');
  return {
    span(name, attributes, fn) {
      return tracer.startActiveSpan(name, { attributes: attributesOf(attributes) }, async (span: Span) => {
        try {
          const result = await fn({ set: (more) => span.setAttributes(attributesOf(more)) });
          span.setStatus({ code: SpanStatusCode.OK });
          return result;
        } catch (error) {
          // Security: the code only; an error's message is never put on a span.
          const code = failureOutcome(error);
          span.setAttribute('ass.outcome', code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: code });
          throw error;
        } finally {
          span.end();
        }
      });
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}
