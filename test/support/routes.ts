/** `:name` parameters of a Fastify route pattern (`::` is an escaped literal colon). */
export function paramNames(url: string): string[] {
  return [...url.replaceAll('::', '\u0000').matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

/** The pattern with its parameters filled in (each URL-encoded). */
export function fillPattern(url: string, params: Record<string, string>): string {
  return url
    .replaceAll('::', '\u0000')
    .replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''))
    .replaceAll('\u0000', ':');
}
