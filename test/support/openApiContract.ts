import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { buildOpenApiDocument } from '../../src/lib/http/openApiDocument.js';

/**
 * Checks real responses against the OpenAPI document: the status is documented for the operation,
 * the Content-Type is one of its media types, a JSON body validates (ajv, JSON Schema 2020-12, the
 * document's own schemas), and every header the response carries is documented.
 */

interface ResponseLike {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

type Json = Record<string, unknown>;

/** Headers every response may carry without each operation listing them (the document's description names them). */
const UNDOCUMENTED_OK = new Set(['content-type', 'cache-control', 'x-content-type-options', 'content-security-policy']);

// ajv-formats is CommonJS with a default export; under ESM interop it can arrive wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

export class OpenApiContract {
  readonly document: Json = buildOpenApiDocument();
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true });
  /** Every operation the tests checked a response of, as `METHOD /path STATUS`. */
  readonly seen = new Set<string>();

  constructor() {
    addFormats(this.#ajv);
    this.#ajv.addSchema(this.document, 'openapi.json');
  }

  operation(method: string, path: string): Json {
    const item = (this.document.paths as Record<string, Json>)[path];
    const op = item?.[method.toLowerCase()] as Json | undefined;
    if (!op) throw new Error(`${method} ${path} is not in the OpenAPI document`);
    return op;
  }

  /** Throws, naming what differs, when the response does not match the document. */
  check(method: string, path: string, response: ResponseLike): void {
    const op = this.operation(method, path);
    const documented = (op.responses as Record<string, Json>)[String(response.status)];
    const where = `${method} ${path} → ${response.status}`;
    if (!documented) throw new Error(`${where} is not documented (documented: ${Object.keys(op.responses as Json).join(', ')})`);
    this.seen.add(`${method.toUpperCase()} ${path} ${response.status}`);

    const headerNames = Object.keys((documented.headers as Json | undefined) ?? {}).map((h) => h.toLowerCase());
    response.headers.forEach((_value, name) => {
      if (!UNDOCUMENTED_OK.has(name) && !headerNames.includes(name)) throw new Error(`${where}: header ${name} is not documented`);
    });

    const content = documented.content as Record<string, Json> | undefined;
    const contentType = response.headers.get('content-type')?.split(';')[0]!.trim();
    if (!content) {
      if (response.text !== '') throw new Error(`${where}: documented without a body, but it has one`);
      return;
    }
    if (!contentType || !(contentType in content)) {
      throw new Error(`${where}: Content-Type ${contentType} is not documented (${Object.keys(content).join(', ')})`);
    }
    if (content[contentType]!.schema === undefined) return;
    const pointer = ['paths', path, method.toLowerCase(), 'responses', String(response.status), 'content', contentType, 'schema']
      .map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    const validate = this.#ajv.getSchema(`openapi.json#/${pointer}`);
    if (!validate) throw new Error(`${where}: cannot compile the documented schema`);
    if (!validate(JSON.parse(response.text))) {
      throw new Error(
        `${where}: body does not match the documented schema: ${this.#ajv.errorsText(validate.errors)}\n${response.text.slice(0, 2000)}`,
      );
    }
  }
}
