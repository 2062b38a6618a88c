import type { InvocationContext } from '@azure/functions';

/** A use case's log: a line and the fields that identify it (appId, renewalId, stage, outcome, …). */
export type StructuredLog = (message: string, properties?: Record<string, unknown>) => void;

/**
 * The line as Application Insights keeps it: the message, then its fields as one JSON object,
 * which KQL reads back with parse_json (infra/modules/monitoring.bicep). In the Node.js v4 model
 * context.log joins its arguments into the trace's message with util.format and sets no custom
 * dimensions (azure-functions-nodejs-library#227): a field object passed beside the message would
 * arrive as util.inspect text, which no query can parse, so the fields go in as JSON.
 */
export function structuredLine(message: string, properties?: Record<string, unknown>): string {
  return properties === undefined || Object.keys(properties).length === 0 ? message : `${message} ${JSON.stringify(properties)}`;
}

/**
 * The invocation's logger as a StructuredLog: each line a trace of this invocation (operation_Id),
 * at the level its outcome calls for: `failed` an error, `at-risk` a warning, the rest information.
 *
 * Why traces and not customMetrics (the applicationinsights SDK's trackMetric, or
 * @azure/monitor-opentelemetry): both bring the OpenTelemetry SDK into every cold start of a
 * Flex Consumption instance, and a second telemetry channel that needs its own Entra credential
 * (local auth is off), while the host already ships these lines with the identity; the safety-net
 * alert is a log search alert in either case, and one line per app read carries the app's own
 * window, which a pre-aggregated metric would lose.
 */
export function invocationLog(context: Pick<InvocationContext, 'log' | 'warn' | 'error'>): StructuredLog {
  return (message, properties) => {
    const line = structuredLine(message, properties);
    const outcome = properties?.outcome;
    if (outcome === 'failed') context.error(line);
    else if (outcome === 'at-risk') context.warn(line);
    else context.log(line);
  };
}
