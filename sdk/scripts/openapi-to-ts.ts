/**
 * A small OpenAPI 3.1 → TypeScript emitter for the SDK's generated types. It covers the JSON Schema
 * that TypeBox and @fastify/swagger produce (object, array, anyOf/oneOf/allOf, enum/const, the
 * primitive types, additional/pattern properties, local `$ref`s); anything else becomes `unknown`
 * rather than a guess. Output is deterministic: the same document always gives the same text.
 */
export type JsonSchema = { [key: string]: unknown };

interface OpenApiOperation {
  summary?: string;
  description?: string;
  parameters?: { in: string; name: string; required?: boolean; description?: string; schema?: JsonSchema }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: JsonSchema }> }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const key = (name: string) => (IDENT.test(name) ? name : JSON.stringify(name));
const pad = (depth: number) => '  '.repeat(depth);

function doc(text: unknown, depth: number): string {
  if (typeof text !== 'string' || text.trim() === '') return '';
  const lines = text.replaceAll('*/', '*\\/').split('\n');
  if (lines.length === 1) return `${pad(depth)}/** ${lines[0]} */\n`;
  return `${pad(depth)}/**\n${lines.map((l) => `${pad(depth)} * ${l}`.trimEnd()).join('\n')}\n${pad(depth)} */\n`;
}

function literal(value: unknown): string {
  return value === null ? 'null' : JSON.stringify(value);
}

/** The TypeScript type of one schema, indented for `depth`. */
export function schemaToTs(schema: unknown, depth = 0): string {
  if (schema === true || schema === undefined) return 'unknown';
  if (schema === false) return 'never';
  if (typeof schema !== 'object' || schema === null) return 'unknown';
  const s = schema as JsonSchema;
  if (typeof s.$ref === 'string') {
    const m = /^#\/components\/schemas\/(.+)$/.exec(s.$ref);
    return m ? `components[${JSON.stringify(m[1])}]` : 'unknown';
  }
  if ('const' in s) return literal(s.const);
  if (Array.isArray(s.enum)) return s.enum.map(literal).join(' | ') || 'never';
  for (const combinator of ['anyOf', 'oneOf'] as const) {
    const list = s[combinator];
    if (Array.isArray(list)) return list.map((x) => wrap(schemaToTs(x, depth))).join(' | ') || 'never';
  }
  if (Array.isArray(s.allOf)) return s.allOf.map((x) => wrap(schemaToTs(x, depth))).join(' & ') || 'unknown';
  const type = s.type;
  if (Array.isArray(type)) return type.map((t) => wrap(schemaToTs({ ...s, type: t }, depth))).join(' | ');
  switch (type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `Array<${schemaToTs(s.items, depth)}>`;
    case 'object':
      return objectToTs(s, depth);
    default:
      return s.properties ? objectToTs(s, depth) : 'unknown';
  }
}

const wrap = (t: string) => (/^[\w".$[\]<>]+$/.test(t) || t.startsWith('{') || t.startsWith('Array<') ? t : `(${t})`);

function objectToTs(s: JsonSchema, depth: number): string {
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const lines: string[] = [];
  for (const [name, prop] of Object.entries(props)) {
    lines.push(doc(prop.description, depth + 1) + `${pad(depth + 1)}${key(name)}${required.has(name) ? '' : '?'}: ${schemaToTs(prop, depth + 1)};`);
  }
  const extras: string[] = [];
  for (const value of Object.values((s.patternProperties ?? {}) as Record<string, unknown>)) extras.push(schemaToTs(value, depth + 1));
  if (s.additionalProperties === true) extras.push('unknown');
  else if (s.additionalProperties && typeof s.additionalProperties === 'object') extras.push(schemaToTs(s.additionalProperties, depth + 1));
  if (extras.length > 0) lines.push(`${pad(depth + 1)}[key: string]: ${extras.join(' | ')}${extras.includes('unknown') || Object.keys(props).length === 0 ? '' : ' | undefined'};`);
  if (lines.length === 0) return s.additionalProperties === false ? 'Record<string, never>' : 'Record<string, unknown>';
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

function parametersOf(op: OpenApiOperation, where: string, depth: number): string | undefined {
  const params = (op.parameters ?? []).filter((p) => p.in === where);
  if (params.length === 0) return undefined;
  const lines = params.map((p) => doc(p.description ?? p.schema?.description, depth + 1) + `${pad(depth + 1)}${key(p.name)}${p.required ? '' : '?'}: ${schemaToTs(p.schema, depth + 1)};`);
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

function contentType(content: Record<string, { schema?: JsonSchema }> | undefined, depth: number): { type: string; media: string } | undefined {
  if (!content) return undefined;
  const media = Object.keys(content).sort((a, b) => Number(b === 'application/json') - Number(a === 'application/json'))[0];
  if (!media) return undefined;
  return { type: schemaToTs(content[media]?.schema, depth), media };
}

/**
 * `Operations`: one entry per `METHOD /path` (OpenAPI path templates, e.g. `/api/customers/{id}`),
 * each with its `path`, `query` and `headers` parameters, `body` and `responses` by status.
 */
export function openApiToTs(document: OpenApiDocument, header: string): string {
  const out: string[] = [header, ''];
  const schemas = document.components?.schemas ?? {};
  out.push('/** Shared schemas of the OpenAPI document (`#/components/schemas`). */');
  out.push('export interface components {');
  for (const [name, s] of Object.entries(schemas)) out.push(doc(s.description, 1) + `  ${key(name)}: ${schemaToTs(s, 1)};`);
  out.push('}', '');
  out.push('/** Every operation of the API, by `METHOD /path`. */');
  out.push('export interface Operations {');
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const summary = [op.summary, op.description].filter(Boolean).join('\n\n');
      out.push(doc(summary, 1) + `  ${JSON.stringify(`${method.toUpperCase()} ${path}`)}: {`);
      for (const where of ['path', 'query', 'header'] as const) {
        const t = parametersOf(op, where, 2);
        if (t) out.push(`    ${where === 'header' ? 'headers' : where}: ${t};`);
      }
      const body = contentType(op.requestBody?.content, 2);
      if (body) {
        out.push(`    /** Sent as \`${body.media}\`. */`);
        out.push(`    body${op.requestBody?.required ? '' : '?'}: ${body.type};`);
      }
      out.push('    responses: {');
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        const t = contentType(r.content, 3);
        const description = r.description && r.description !== 'Default Response' ? r.description : undefined;
        out.push(doc(description, 3) + `      ${/^\d+$/.test(status) ? status : JSON.stringify(status)}: ${t ? t.type : 'unknown'};`);
      }
      out.push('    };', '  };');
    }
  }
  out.push('}', '');
  return out.join('\n');
}
