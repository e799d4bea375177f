#!/usr/bin/env node
// Lint rule for workflows/: workflow code must stay deterministic and free of
// side effects, because Temporal replays it. `npm run lint` runs this file.
//
// Forbidden in workflows/**:
//  - any import of a Node built-in (node:fs, crypto, ...), even type-only;
//  - value imports from outside workflows/ (store/, activities/, workers/, api/,
//    cli/, core/...) — those are reachable as types only (`import type`);
//  - value imports of packages other than the workflow-safe Temporal ones;
//  - dynamic import() and require();
//  - non-deterministic globals: Date.now(), new Date() without arguments,
//    Math.random(), setTimeout/setInterval/setImmediate, process.*, crypto.*,
//    performance.*.
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALLOWED_PACKAGES = new Set(['@temporalio/workflow', '@temporalio/common']);
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const FORBIDDEN_GLOBALS = new Set(['process', 'crypto', 'performance', 'setTimeout', 'setInterval', 'setImmediate', 'require']);

function walk(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else if (/\.(m|c)?[jt]s$/.test(entry.name) && !/\.test\.[jt]s$/.test(entry.name)) out.push(p);
  }
  return out;
}

function isTypeOnlyImport(node) {
  if (ts.isImportDeclaration(node)) {
    const c = node.importClause;
    if (!c) return false; // side-effect import
    if (c.isTypeOnly) return true;
    if (c.name) return false; // default import is a value
    const b = c.namedBindings;
    if (!b) return false;
    if (ts.isNamespaceImport(b)) return false;
    return b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly);
  }
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const c = node.exportClause;
    return Boolean(c && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly));
  }
  return false;
}

/** Problems in one file: `{ file, line, message }`. */
export function lintSource(file, text, workflowsDir) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const problems = [];
  const report = (node, message) => {
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    problems.push({ file, line: line + 1, message });
  };
  const checkSpecifier = (node, spec, typeOnly) => {
    if (BUILTINS.has(spec) || spec.startsWith('node:')) {
      report(node, `imports the Node built-in "${spec}" (workflows must not touch the system)`);
      return;
    }
    if (spec.startsWith('.') || spec.startsWith('/')) {
      const target = path.resolve(path.dirname(file), spec);
      const inside = target === workflowsDir || target.startsWith(workflowsDir + path.sep);
      if (!inside && !typeOnly) {
        const rel = path.relative(path.dirname(workflowsDir), target);
        report(node, `imports a value from ${rel} (outside workflows/, only \`import type\` is allowed)`);
      }
      return;
    }
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    if (!typeOnly && !ALLOWED_PACKAGES.has(pkg)) {
      report(node, `imports a value from the package "${spec}" (only ${[...ALLOWED_PACKAGES].join(', ')} are workflow-safe)`);
    }
  };
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      checkSpecifier(node, node.moduleSpecifier.text, isTypeOnlyImport(node));
    } else if (ts.isImportEqualsDeclaration(node)) {
      report(node, 'uses import = require() (not allowed in workflows)');
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) report(node, 'uses dynamic import() (not allowed in workflows)');
      const callee = node.expression;
      if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression)) {
        const obj = callee.expression.text;
        const prop = callee.name.text;
        if (obj === 'Date' && prop === 'now') report(node, 'reads the clock with Date.now() (use the workflow env\'s now())');
        if (obj === 'Math' && prop === 'random') report(node, 'uses Math.random() (non-deterministic)');
      }
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'Date' && (!node.arguments || node.arguments.length === 0)) {
      report(node, 'reads the clock with new Date() (use the workflow env\'s now())');
    } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text)) {
      const parent = node.parent;
      // Only references to the global, not property names (`x.process`) or declarations of our own.
      const isProperty = parent && ts.isPropertyAccessExpression(parent) && parent.name === node;
      const isDecl = parent && (ts.isPropertyAssignment(parent) || ts.isPropertySignature(parent) || ts.isMethodSignature(parent)
        || ts.isMethodDeclaration(parent) || ts.isParameter(parent) || ts.isVariableDeclaration(parent)) && parent.name === node;
      if (!isProperty && !isDecl) report(node, `uses the global "${node.text}" (non-deterministic or side-effecting)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return problems;
}

/** Lints every source file under `dir` (default: the project's workflows/). */
export function lintWorkflows(dir = path.join(ROOT, 'workflows')) {
  const abs = path.resolve(dir);
  return walk(abs).flatMap((f) => lintSource(f, fs.readFileSync(f, 'utf8'), abs));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? path.join(ROOT, 'workflows');
  const problems = lintWorkflows(dir);
  for (const p of problems) process.stderr.write(`${path.relative(process.cwd(), p.file)}:${p.line}: ${p.message}\n`);
  if (problems.length) {
    process.stderr.write(`lint-workflows: ${problems.length} problem(s); move side effects into activities/ and import them as types only\n`);
    process.exit(1);
  }
  process.stderr.write(`lint-workflows: ${dir} is clean\n`);
}
