// ESLint with typescript-eslint's type-aware promise rules: a floating promise or an async
// callback where a sync one is expected loses errors silently, which a data loader must not do.
// typescript-eslint needs the TypeScript JS API, which TypeScript 7 (the native compiler the
// build uses, as `typescript7`) does not have; it runs on TypeScript 6 (`typescript`).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "clients/**", ".cache/**", "**/*.mjs", "**/*.js"] },
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
    },
  },
);
