import { z } from 'zod';
import { appConfigInputSchema, historyEntrySchema, renewalStateSchema } from '../domain/appConfig.js';
import {
  appCertificateViewSchema,
  certificateListSchema,
  generatedCertificateSchema,
  pfxDownloadSchema,
  removedCertificateSchema,
} from '../apps/certificateViews.js';
import {
  appPageSchema,
  appViewSchema,
  healthSchema,
  historyPageSchema,
  pfxExportBodySchema,
  rotationListSchema,
  rotationViewSchema,
  inventoryPageSchema,
} from './apiSchemas.js';
import { rotationRequestSchema } from '../domain/rotation.js';
import { problemSchema } from './problem.js';

/**
 * The schemas of the OpenAPI document (src/lib/http/openApiDocument.ts): the named ones in
 * components/schemas, and the JSON Schema of any other zod schema an operation uses.
 */

export type JsonSchema = Record<string, unknown>;

/** Response bodies and request bodies with a name in components/schemas. */
const OUTPUT_COMPONENTS = {
  Problem: problemSchema,
  Health: healthSchema,
  AppView: appViewSchema,
  AppPage: appPageSchema,
  RenewalState: renewalStateSchema,
  HistoryEntry: historyEntrySchema,
  HistoryPage: historyPageSchema,
  AppCertificate: appCertificateViewSchema,
  CertificateList: certificateListSchema,
  GeneratedCertificate: generatedCertificateSchema,
  RemovedCertificate: removedCertificateSchema,
  PfxDownload: pfxDownloadSchema,
  RotationView: rotationViewSchema,
  RotationList: rotationListSchema,
  InventoryPage: inventoryPageSchema,
} satisfies Record<string, z.ZodType>;
const INPUT_COMPONENTS = {
  AppConfigInput: appConfigInputSchema,
  PfxExportInput: pfxExportBodySchema,
  RotationRequest: rotationRequestSchema,
} satisfies Record<string, z.ZodType>;
export type ComponentName = keyof typeof OUTPUT_COMPONENTS | keyof typeof INPUT_COMPONENTS;

const COMPONENT_REF = (name: string) => `#/components/schemas/${name}`;

/** A standalone schema in the 2020-12 dialect, without the `$schema` key (the document sets the dialect). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

/** Named schemas; a schema registered under a name is referenced wherever another one uses it. */
export function openApiComponents(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [io, named] of [
    ['output', OUTPUT_COMPONENTS],
    ['input', INPUT_COMPONENTS],
  ] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
    const { schemas } = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: COMPONENT_REF }) as {
      schemas: Record<string, JsonSchema>;
    };
    for (const [id, schema] of Object.entries(schemas)) {
      const { $schema: _dialect, $id: _id, ...rest } = schema;
      out[id] = rest;
    }
  }
  return out;
}

export function schemaFor(spec: ComponentName | z.ZodType | JsonSchema, io: 'input' | 'output'): JsonSchema {
  if (typeof spec === 'string') return { $ref: COMPONENT_REF(spec) };
  if (spec instanceof z.ZodType) return jsonSchemaOf(spec, io);
  return spec;
}
