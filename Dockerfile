# syntax=docker/dockerfile:1
# Tessera's production image: `tessera serve` by default; `tessera worker`, `tessera migrate` and every
# other command with another CMD. See docs/deploy.md and deploy/compose.yaml.

# 1. Build: every dependency, and the type check, so a broken tree never becomes an image.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install script is the `node` package's, which fetches the Node.js that
# `npm ci` pins for older hosts; the image already runs Node.js 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
RUN npx tsc --noEmit -p tsconfig.json

# 2. Production dependencies only.
FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# 3. Runtime: the source (Node runs TypeScript by type stripping), production node_modules, non-root.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    TESSERA_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    TESSERA_DATA_DIR=/data
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# The data dir (SQLite file when DATABASE_URL is unset, batch inbox): a volume owned by the `node` user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
# Liveness: /health on the API port, or on TESSERA_METRICS_PORT for `tessera worker` containers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.TESSERA_METRICS_PORT || process.env.PORT || 8080}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/tessera.js"]
CMD ["serve"]
