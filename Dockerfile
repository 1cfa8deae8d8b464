# syntax=docker/dockerfile:1
# The one image both components run from: `fleetwall controller …` and `fleetwall agent …`.
# Build: docker build -t ghcr.io/fleetwall/fleetwall:0.1.0 .

# --- build: compile the workspaces, then bundle them with their dependencies (scripts/bundle.mjs)
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
COPY api/package.json api/
COPY runtime/package.json runtime/
COPY controller/package.json controller/
COPY agent/package.json agent/
COPY cli/package.json cli/
RUN npm ci --no-audit --no-fund
COPY api/ api/
COPY runtime/ runtime/
COPY controller/ controller/
COPY agent/ agent/
COPY cli/ cli/
COPY scripts/bundle.mjs scripts/
RUN npx tsc -b cli && node scripts/bundle.mjs

# --- runtime: node, nft and the bundle (no node_modules: the bundle carries what it uses)
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/dist/ /app/
# The controller runs as this user; the agent's pod sets runAsUser 0 with only NET_ADMIN and NET_RAW
# (nft needs them), as the Helm chart does.
USER 65532:65532
ENTRYPOINT ["node", "/app/fleetwall.mjs"]
CMD ["--help"]
