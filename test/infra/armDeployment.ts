import { createHash } from 'node:crypto';
import { parseArmExpression, resourcesOf, type ArmNode, type Json } from './armTemplate.js';

/**
 * What Azure Resource Manager would deploy from the compiled template for given parameters: each
 * resource's condition, copies, name, scope and properties, evaluated. Written here because no npm
 * package evaluates ARM template expressions offline (the what-if API needs Azure). It evaluates the
 * functions Bicep emits for this repository's templates and throws on any other, so a new construct
 * fails loudly instead of being misread. Module outputs come from a table of representative values
 * (`outputs`): this is not a deployment, only the template's own logic run with them.
 */

export interface CloudEnvironment {
  readonly name: string;
  readonly authentication: { readonly loginEndpoint: string };
  readonly resourceManager: string;
  readonly suffixes: { readonly storage: string; readonly keyvaultDns: string };
}

/** The clouds' `environment()` values as ARM returns them (az cloud show). */
export const PUBLIC_CLOUD: CloudEnvironment = {
  name: 'AzureCloud',
  authentication: { loginEndpoint: 'https://login.microsoftonline.com/' },
  resourceManager: 'https://management.azure.com/',
  suffixes: { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' },
};
export const CHINA_CLOUD: CloudEnvironment = {
  name: 'AzureChinaCloud',
  authentication: { loginEndpoint: 'https://login.chinacloudapi.cn/' },
  resourceManager: 'https://management.chinacloudapi.cn/',
  suffixes: { storage: 'core.chinacloudapi.cn', keyvaultDns: '.vault.azure.cn' },
};

export const SUBSCRIPTION_ID = '5f2a7c1e-3b4d-4e6f-8a9b-0c1d2e3f4a5b';
export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const RESOURCE_GROUP = 'rg-test';

export interface DeploymentOptions {
  readonly environment?: CloudEnvironment;
  /** Representative outputs of each module, by the module's symbolic name. */
  readonly outputs?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export interface DeployedResource {
  readonly symbolicName: string;
  readonly type: string;
  readonly copyIndex: number | undefined;
  readonly name: unknown;
  readonly scope: unknown;
  readonly dependsOn: readonly string[];
  /** The resource as the template writes it, unevaluated. */
  readonly raw: Json;
  /** The resource's properties, evaluated. */
  properties(): Json;
  /** Any other field of the resource (tags, identity, sku), evaluated. */
  field(name: string): unknown;
  /** A module's own deployment (Microsoft.Resources/deployments only). */
  module(): Deployment;
}

export interface Deployment {
  readonly parameters: Readonly<Record<string, unknown>>;
  variable(name: string): unknown;
  /** An output's value (only outputs computed from parameters and names, not from deployed state). */
  output(name: string): unknown;
  /** Every resource the deployment would create (condition true), copies expanded. */
  resources(): DeployedResource[];
  /** The one deployed resource of that symbolic name, or type in a template without symbolic names (throws when absent or copied). */
  resource(symbolicName: string): DeployedResource;
  /** Whether a resource of that symbolic name would be created (any copy). */
  deploys(symbolicName: string): boolean;
}

/** Evaluates the template as deployed with `parameterValues` (defaults fill the rest). */
export function deploy(template: Json, parameterValues: Record<string, unknown>, options: DeploymentOptions = {}): Deployment {
  return new TemplateDeployment(template, parameterValues, options);
}

interface Scope {
  readonly deployment: TemplateDeployment;
  readonly copyIndex?: number;
  /** Property loops' indexes, by loop name (copyIndex('name')). */
  readonly loops?: Readonly<Record<string, number>>;
  readonly lambda?: Readonly<Record<string, unknown>>;
}

class TemplateDeployment implements Deployment {
  readonly parameters: Record<string, unknown> = {};
  readonly #template: Json;
  readonly #options: DeploymentOptions;
  readonly #variables = new Map<string, unknown>();

  constructor(template: Json, parameterValues: Record<string, unknown>, options: DeploymentOptions) {
    this.#template = template;
    this.#options = options;
    const declared = (template.parameters ?? {}) as Record<string, { defaultValue?: unknown; nullable?: boolean }>;
    const unknown = Object.keys(parameterValues).filter((name) => !(name in declared));
    if (unknown.length > 0) throw new Error(`parameters the template does not declare: ${unknown.join(', ')}`);
    for (const [name, declaration] of Object.entries(declared)) {
      if (name in parameterValues) this.parameters[name] = parameterValues[name];
      else if ('defaultValue' in declaration) this.parameters[name] = evaluate(declaration.defaultValue, { deployment: this });
      else if (declaration.nullable) this.parameters[name] = null;
      else throw new Error(`required parameter ${name} has no value`);
    }
  }

  get options(): DeploymentOptions {
    return this.#options;
  }

  variable(name: string): unknown {
    if (!this.#variables.has(name)) {
      const variables = (this.#template.variables ?? {}) as Record<string, unknown>;
      if (!(name in variables)) throw new Error(`no variable ${name}`);
      this.#variables.set(name, evaluate(variables[name], { deployment: this }));
    }
    return this.#variables.get(name);
  }

  output(name: string): unknown {
    const outputs = (this.#template.outputs ?? {}) as Record<string, { value: unknown }>;
    if (!(name in outputs)) throw new Error(`no output ${name}`);
    return evaluate(outputs[name]!.value, { deployment: this });
  }

  resources(): DeployedResource[] {
    const raw = this.#template.resources;
    const entries: [string, Json][] = Array.isArray(raw)
      ? // Templates without symbolic names (languageVersion 1.0) are looked up by resource type.
        (raw as Json[]).map((r) => [String(r.type), r])
      : Object.entries((raw ?? {}) as Record<string, Json>);
    const deployed: DeployedResource[] = [];
    for (const [symbolicName, resource] of entries) {
      if (resource.existing === true) continue;
      if (resource.condition !== undefined && evaluate(resource.condition, { deployment: this }) !== true) continue;
      const copy = resource.copy as { count: unknown } | undefined;
      const count = copy ? Number(evaluate(copy.count, { deployment: this })) : 1;
      for (let i = 0; i < count; i++) deployed.push(this.#deployed(symbolicName, resource, copy ? i : undefined));
    }
    return deployed;
  }

  resource(symbolicName: string): DeployedResource {
    const found = this.resources().filter((r) => r.symbolicName === symbolicName);
    if (found.length !== 1) throw new Error(`${found.length} deployed resources named ${symbolicName}`);
    return found[0]!;
  }

  deploys(symbolicName: string): boolean {
    return this.resources().some((r) => r.symbolicName === symbolicName);
  }

  #deployed(symbolicName: string, resource: Json, copyIndex: number | undefined): DeployedResource {
    const scope: Scope = { deployment: this, copyIndex };
    const moduleOf = (): Deployment => {
      if (resource.type !== 'Microsoft.Resources/deployments') throw new Error(`${symbolicName} is no module`);
      const properties = resource.properties as Json;
      const given = evaluate(properties.parameters ?? {}, scope) as Record<string, { value: unknown }>;
      const values = Object.fromEntries(Object.entries(given).map(([name, wrapped]) => [name, wrapped.value]));
      return new TemplateDeployment(properties.template as Json, values, this.#options);
    };
    return {
      symbolicName,
      type: String(resource.type),
      copyIndex,
      name: evaluate(resource.name, scope),
      scope: resource.scope === undefined ? undefined : evaluate(resource.scope, scope),
      dependsOn: (resource.dependsOn as string[] | undefined) ?? [],
      raw: resource,
      properties: () => evaluate(resource.properties ?? {}, scope) as Json,
      field: (name) => evaluate(resource[name], scope),
      module: moduleOf,
    };
  }
}

/** Evaluates every `[expression]` string inside a template value. */
export function evaluate(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('[[')) return value.slice(1);
    return value.startsWith('[') && value.endsWith(']') ? evaluateNode(parseArmExpression(value), scope) : value;
  }
  if (Array.isArray(value)) return value.map((item) => evaluate(item, scope));
  if (value && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === 'copy' && Array.isArray(item)) {
        // A property loop: each { name, count, input } becomes the array property `name`.
        for (const loop of item as { name: string; count: unknown; input: unknown }[]) {
          result[loop.name] = Array.from({ length: Number(evaluate(loop.count, scope)) }, (_, i) =>
            evaluate(loop.input, { ...scope, loops: { ...scope.loops, [loop.name]: i } }),
          );
        }
      } else result[key] = evaluate(item, scope);
    }
    return result;
  }
  return value;
}

function evaluateNode(node: ArmNode, scope: Scope): unknown {
  switch (node.kind) {
    case 'string':
    case 'number':
      return node.value;
    case 'access': {
      const target = evaluateNode(node.target, scope) as Record<string, unknown> | unknown[] | null;
      const key = node.index ? evaluateNode(node.index, scope) : node.path;
      if (target === null || target === undefined) throw new Error(`property ${String(key)} of ${String(target)}`);
      const found = (target as Record<string, unknown>)[String(key)];
      if (found === undefined) throw new Error(`no property ${String(key)} in ${JSON.stringify(target).slice(0, 200)}`);
      return found;
    }
    case 'call':
      return call(node.name.toLowerCase(), node.args, scope);
  }
}

const hash = (...parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

function resourceIdOf(prefix: string, type: string, names: string[]): string {
  const [namespace, ...types] = type.split('/');
  if (types.length !== names.length) throw new Error(`resourceId(${type}) with ${names.length} names`);
  return `${prefix}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i]}`).join('/')}`;
}

function call(name: string, nodes: readonly ArmNode[], scope: Scope): unknown {
  const { deployment } = scope;
  // Lazily evaluated arguments: if() and lambdas must not evaluate what they do not take.
  const arg = (i: number) => evaluateNode(nodes[i]!, scope);
  const args = () => nodes.map((_, i) => arg(i));
  const text = (i: number) => String(arg(i));
  const groupId = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${RESOURCE_GROUP}`;
  switch (name) {
    case 'parameters':
      if (!(text(0) in deployment.parameters)) throw new Error(`no parameter ${text(0)}`);
      return deployment.parameters[text(0)];
    case 'variables':
      return deployment.variable(text(0));
    case 'reference': {
      const outputs = deployment.options.outputs?.[text(0)];
      if (!outputs) throw new Error(`reference('${text(0)}'): give the test representative outputs of ${text(0)}`);
      return { outputs: Object.fromEntries(Object.entries(outputs).map(([key, value]) => [key, { value }])) };
    }
    case 'if':
      return arg(0) === true ? arg(1) : arg(2);
    case 'not':
      return arg(0) !== true;
    case 'and':
      return args().every((v) => v === true);
    case 'or':
      return args().some((v) => v === true);
    case 'equals':
      return JSON.stringify(arg(0)) === JSON.stringify(arg(1));
    case 'true':
      return true;
    case 'false':
      return false;
    case 'null':
      return null;
    case 'empty': {
      const value = arg(0);
      return (
        value === null ||
        value === '' ||
        (Array.isArray(value) ? value.length === 0 : typeof value === 'object' && Object.keys(value).length === 0)
      );
    }
    case 'coalesce':
      return args().find((v) => v !== null && v !== undefined) ?? null;
    case 'tryget': {
      const value = arg(0) as Record<string, unknown> | null;
      return value === null ? null : (value[text(1)] ?? null);
    }
    case 'createobject': {
      const values = args();
      return Object.fromEntries(Array.from({ length: values.length / 2 }, (_, i) => [String(values[2 * i]), values[2 * i + 1]]));
    }
    case 'createarray':
      return args();
    case 'union': {
      const values = args();
      return Array.isArray(values[0]) ? [...new Set(values.flat())] : Object.assign({}, ...(values as object[]));
    }
    case 'concat': {
      const values = args();
      return Array.isArray(values[0]) ? values.flat() : values.join('');
    }
    case 'format':
      return text(0).replace(/\{(\d+)\}/g, (_, i: string) => String(arg(Number(i) + 1)));
    case 'string':
      return typeof arg(0) === 'string' ? arg(0) : JSON.stringify(arg(0));
    case 'tolower':
      return text(0).toLowerCase();
    case 'replace':
      return text(0).split(text(1)).join(text(2));
    case 'take': {
      const value = arg(0) as string | unknown[];
      return value.slice(0, Number(arg(1)));
    }
    case 'split':
      return text(0).split(text(1));
    case 'join':
      return (arg(0) as unknown[]).map(String).join(text(1));
    case 'trim':
      return text(0).trim();
    case 'length': {
      const value = arg(0) as string | unknown[] | object;
      return typeof value === 'string' || Array.isArray(value) ? value.length : Object.keys(value).length;
    }
    case 'items':
      return Object.entries(arg(0) as Record<string, unknown>).map(([key, value]) => ({ key, value }));
    case 'range':
      return Array.from({ length: Number(arg(1)) }, (_, i) => Number(arg(0)) + i);
    case 'lambda':
      return { lambda: nodes.slice(0, -1).map((n) => evaluateNode(n, scope) as string), body: nodes.at(-1)! };
    case 'lambdavariables':
      return scope.lambda?.[text(0)] ?? fail(`lambda variable ${text(0)}`);
    case 'map':
    case 'filter':
    case 'toobject': {
      const items = arg(0) as unknown[];
      const apply = (i: number, item: unknown) => {
        const fn = arg(i) as { lambda: string[]; body: ArmNode };
        return evaluateNode(fn.body, { ...scope, lambda: { ...scope.lambda, [fn.lambda[0]!]: item } });
      };
      if (name === 'map') return items.map((item) => apply(1, item));
      if (name === 'filter') return items.filter((item) => apply(1, item) === true);
      return Object.fromEntries(items.map((item) => [String(apply(1, item)), nodes[2] ? apply(2, item) : item]));
    }
    case 'copyindex': {
      const named = nodes[0] !== undefined && typeof arg(0) === 'string';
      const index = named ? scope.loops?.[text(0)] : scope.copyIndex;
      const offset = nodes[named ? 1 : 0] === undefined ? 0 : Number(arg(named ? 1 : 0));
      return (index ?? fail('copyIndex() outside its copy loop')) + offset;
    }
    case 'uniquestring':
      return BigInt(`0x${hash('uniqueString', ...args()).slice(0, 16)}`)
        .toString(36)
        .padStart(13, 'a')
        .slice(0, 13);
    case 'guid': {
      const h = hash('guid', ...args());
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    }
    case 'subscription':
      return { id: `/subscriptions/${SUBSCRIPTION_ID}`, subscriptionId: SUBSCRIPTION_ID, tenantId: TENANT_ID };
    case 'tenant':
      return { tenantId: TENANT_ID };
    case 'resourcegroup':
      return { id: groupId, name: RESOURCE_GROUP };
    case 'environment':
      return deployment.options.environment ?? PUBLIC_CLOUD;
    case 'resourceid': {
      const values = args().map(String);
      const typeAt = values.findIndex((v) => v.includes('/'));
      return resourceIdOf(
        typeAt === 0 ? groupId : `/subscriptions/${values[0]}/resourceGroups/${values[typeAt - 1]}`,
        values[typeAt]!,
        values.slice(typeAt + 1),
      );
    }
    case 'subscriptionresourceid':
      return resourceIdOf(`/subscriptions/${SUBSCRIPTION_ID}`, text(0), args().slice(1).map(String));
    case 'extensionresourceid':
      return resourceIdOf(text(0), text(1), args().slice(2).map(String));
    default:
      throw new Error(`ARM function ${name}() is not evaluated by test/infra/armDeployment.ts: add it`);
  }
}

function fail(what: string): never {
  throw new Error(`ARM evaluation: ${what}`);
}

/** A module's nested template, by the module's symbolic name in main.bicep. */
export function moduleTemplate(template: Json, symbolicName: string): Json {
  const resources = template.resources as Record<string, Json>;
  const module = Array.isArray(resources) ? resourcesOf(template).find((r) => r.name === symbolicName) : resources[symbolicName];
  if (!module) throw new Error(`no module ${symbolicName}`);
  return (module.properties as Json).template as Json;
}
