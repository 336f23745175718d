# agent-secret-store as a container image: `serve --http` (streamable HTTP /mcp, SSE /sse,
# REST /v1, the dashboard, /healthz) on port 8787, as the non-root user `node`, with the whole
# setup (config, encrypted store, key file, approvals, audit log) in the volume /data.
# It runs with a read-only root filesystem. See docs/deploy.md.
# It speaks plain HTTP (ASS_HTTP_PLAINTEXT=1): it is meant to sit behind a TLS proxy, with its
# port published on loopback or a private network only; or set http.tls and ASS_HTTP_PLAINTEXT=0.
#
#   docker build -t agent-secret-store .
#   docker run --rm -v ass-data:/data agent-secret-store init --json    # once: prints the keys
#   docker run -d -v ass-data:/data -p 127.0.0.1:8787:8787 \
#     -e ASS_HTTP_ALLOWED_ORIGINS=https://agents.example.com --read-only agent-secret-store
#
# Build argument and secret (nothing of the build stage reaches the final image):
#   NODE_IMAGE   the Node.js 24 base (default node:24-bookworm-slim, the official image).
#   npm_ca       optional build secret: the CA bundle of a TLS-inspecting proxy between this
#                build and the npm registry, for `npm ci` (BuildKit), e.g.
#                docker build --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt .
#                Without it nothing changes. A secret mount is never written to a layer.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency runs code at install time; the build needs none of it.
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.mjs ./scripts/bundle.mjs
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && rm -rf node_modules/.package-lock.json /root/.npm

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    ASS_HOME=/data \
    ASS_HTTP_HOST=0.0.0.0 \
    ASS_HTTP_PORT=8787 \
    ASS_HTTP_PLAINTEXT=1
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY config.example.yaml ./config.example.yaml
# The volume belongs to the user that runs the server; nothing else in the image is writable by it.
# `docker exec <container> agent-secret-store approvals approve <id>` runs the same CLI.
RUN mkdir -p /data && chown node:node /data && chmod 700 /data \
 && ln -s /app/dist/cli/main.js /usr/local/bin/agent-secret-store
USER node
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.ASS_HTTP_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve", "--http"]
