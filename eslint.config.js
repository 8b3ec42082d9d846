// Only the checks tsc cannot make: a promise whose rejection nobody handles, or one passed where
// nothing awaits it. Services are async; a dropped one loses its error and its ordering.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'drizzle/**', 'bundle/**', '**/*.js'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { checkThenables: true }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
    },
  },
  // The stores run on SQLite and PostgreSQL: tables come from the handle, results from awaiting the query.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/db/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/db/schema', '**/db/schema-pg'], allowTypeImports: true, message: "a handle's tables come from tablesOf(db) (src/db/engine.ts)" }] },
      ],
    },
  },
  {
    files: ['src/**/store.ts', 'src/artifacts/changes.ts', 'src/identity/throttle.ts', 'src/audit/*.ts', 'src/health.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[arguments.length=0] > MemberExpression.callee > Identifier.property[name=/^(get|all|run|values)$/]",
          message: "SQLite's driver only: await the query (firstRow(), rowsChanged() from src/db/engine.ts)",
        },
      ],
    },
  },
);
