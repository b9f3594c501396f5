# syntax=docker/dockerfile:1
# tracebill worker image. Build: docker build -t tracebill .
# Run:   docker run --env-file .env -p 9464:9464 tracebill            (the worker)
#        docker run --env-file .env tracebill node bin/tracebill.js status

# ── builder: all dependencies, TypeScript compiled to dist/ ─────────────────────────────────────
FROM node:20-bookworm-slim AS builder
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the "prepare" script builds, and the sources are not copied yet.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ── runtime: production dependencies only, non-root ─────────────────────────────────────────────
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would run tsc, a dev dependency that is not installed here.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=builder /app/dist ./dist
COPY bin ./bin
COPY mappings ./mappings
# Reports and pulled windows go to a volume owned by the non-root user.
RUN mkdir -p /data/reports /data/spool && chown -R node:node /data
# The worker's live heap is small; without a cap V8 lets garbage grow RSS to ~300 MB before it
# collects. 160 MB of old space keeps the peak under 200 MB at the same speed (npm run bench).
ENV NODE_OPTIONS=--max-old-space-size=160
ENV MAPPINGS_DIR=/app/mappings \
    TRACEBILL_REPORTS_DIR=/data/reports \
    TRACEBILL_PULL_SPOOL_DIR=/data/spool \
    HTTP_PORT=9464 \
    TRACEBILL_HTTP_HOST=0.0.0.0
USER node
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 9464) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/tracebill.js", "worker"]
