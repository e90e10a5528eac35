import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run dev` proxies the API to a running `make dev` stack (its gateway).
const API = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    // No source maps shipped; the call page (LiveKit) is its own chunk, loaded on entry.
    sourcemap: false,
    // LiveKit is most of the call chunk, which only "Enter room" loads.
    chunkSizeWarningLimit: 700,
    target: "es2022",
  },
  server: { proxy: { "/v1": API, "/dev": API } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
