# syntax=docker/dockerfile:1
# The one image both components run from: `fleetwall controller …` and `fleetwall agent …`.
# Build: docker build -t ghcr.io/fleetwall/fleetwall:0.1.0 .

# --- build: compile the workspaces, then keep only the runtime dependencies
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
COPY api/package.json api/
COPY controller/package.json controller/
COPY agent/package.json agent/
COPY cli/package.json cli/
RUN npm ci --no-audit --no-fund
COPY api/ api/
COPY controller/ controller/
COPY agent/ agent/
COPY cli/ cli/
RUN npx tsc -b cli \
 && npm prune --omit=dev --no-audit --no-fund \
 && find api controller agent cli -name '*.test.*' -delete

# --- runtime: node, nft, the compiled workspaces (node_modules/@fleetwall/* link to them)
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/api/package.json api/
COPY --from=build /src/api/dist/ api/dist/
COPY --from=build /src/controller/package.json controller/
COPY --from=build /src/controller/dist/ controller/dist/
COPY --from=build /src/agent/package.json agent/
COPY --from=build /src/agent/dist/ agent/dist/
COPY --from=build /src/cli/package.json cli/
COPY --from=build /src/cli/dist/ cli/dist/
# The controller runs as this user; the agent's pod sets runAsUser 0 with only NET_ADMIN and NET_RAW
# (nft needs them), as the Helm chart does.
USER 65532:65532
ENTRYPOINT ["node", "/app/cli/dist/main.js"]
CMD ["--help"]
