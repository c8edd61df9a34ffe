# syntax=docker/dockerfile:1
# The mqtt2pg image: one binary for the operator, the workers and loadgen (`mqtt2pg operator|worker|loadgen`).
#   docker build -t mqtt2pg:dev .
# The Deployments the operator renders run `mqtt2pg worker ...` as the container command, so the CLI must be on
# PATH; pods run as uid 65532 with a read-only root filesystem.

# Debian 12 (bookworm) like the test environment; glibc, so classic-level's prebuilt LevelDB binding loads.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY api/ api/
COPY crds/ crds/
COPY common/ common/
COPY cli/ cli/
COPY worker/ worker/
COPY operator/ operator/
# Compile, then drop devDependencies (TypeScript, Biome, the `node` npm package) from what the runtime copies.
RUN npm run build \
 && npm prune --omit=dev \
 && test -f dist/cli/main.js

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="mqtt2pg" \
      org.opencontainers.image.description="Kubernetes operator and worker for MQTT 5 -> PostgreSQL ingest pipelines" \
      org.opencontainers.image.source="https://github.com/mqtt2pg/mqtt2pg" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# npm and corepack are not needed at run time; removing them shrinks the image and its CVE surface.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The CLI finds its version in the package.json above dist/ (common/version.ts looks upwards); Node
# resolves the /usr/local/bin symlink to /app/dist/cli/main.js, so that works from PATH too.
RUN chmod 0755 dist/cli/main.js \
 && ln -s /app/dist/cli/main.js /usr/local/bin/mqtt2pg \
 && mqtt2pg version
# The same uid the operator's pod specs set (runAsUser 65532); numeric so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081 9090
ENTRYPOINT ["mqtt2pg"]
CMD ["--help"]
