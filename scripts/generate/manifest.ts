// custom-elements.json: the Custom Elements Manifest (github.com/webcomponents/custom-elements-manifest)
// of web/components, read from the components' own code and JSDoc with the TypeScript API of the
// project's compiler (typescript/unstable: TypeScript 7 has no other). The JSDoc tags are those of
// @custom-elements-manifest/analyzer: @attr, @fires, @csspart, @cssprop, each `name - description`. What the code can
// confirm is checked against it: attributes against observedAttributes, events against the Event
// classes the element constructs, custom properties against the var() in its styles.

import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { API, type Checker } from 'typescript/unstable/sync';
import {
  ModifierFlags, SyntaxKind, getJSDocTags, getTextOfJSDocComment,
  type ClassDeclaration, type Node, type ParameterDeclaration, type SourceFile, type TypeNode,
} from 'typescript/unstable/ast';
import {
  isCallExpression, isClassDeclaration, isConstructorDeclaration, isExportAssignment, isExportDeclaration,
  isExpressionStatement, isFunctionDeclaration, isGetAccessorDeclaration, isIdentifier, isImportDeclaration,
  isMethodDeclaration, isNamedExports, isNamedImports, isNewExpression, isPropertyAccessExpression,
  isPropertyDeclaration, isSetAccessorDeclaration, isStringLiteral, isVariableStatement,
} from 'typescript/unstable/ast/is';

export const MANIFEST = 'custom-elements.json';
const FOLDER = 'web/components';
/** The project that type-checks the components. */
const PROJECT = 'web/browser/tsconfig.json';
/** Called by the browser, not by users: not part of an element's documented API. */
const LIFECYCLE = new Set(['observedAttributes', 'connectedCallback', 'disconnectedCallback', 'attributeChangedCallback', 'adoptedCallback']);

type Json = { [k: string]: unknown };
type Ref = { name: string; module: string };

const fail = (where: string, what: string): never => { throw new Error(`${where}: ${what}`); };
const has = (n: Node, flag: ModifierFlags) => ((n as { modifierFlags?: number }).modifierFlags ?? 0) & flag;
const oneLine = (s: string | undefined) => (s ?? '').replace(/\s*\n\s*/g, ' ').trim();
/** A node's JSDoc text before its tags, on one line. */
const docOf = (n: Node) => oneLine(getTextOfJSDocComment((n.jsDoc?.at(-1) as { comment?: string } | undefined)?.comment));
const tagsOf = (n: Node, tag: string) =>
  getJSDocTags(n).filter((t) => t.tagName.text === tag).map((t) => oneLine(getTextOfJSDocComment(t.comment)));
interface Tag { name: string; description: string; type?: string; default?: string }
/** `name - description` (@attr may also say `{type}` first and `[name=default]`). */
function parseTag(text: string, where: string): Tag {
  const m = /^(?:\{([^}]*)\}\s*)?(?:\[([^\]=]+)=([^\]]*)\]|([^\s[]+))(?:\s+-\s+|\s*$)(.*)$/.exec(text) ?? fail(where, `cannot read the tag "${text}"`);
  const out: Tag = { name: (m[2] ?? m[4])!, description: m[5]! };
  if (m[1]) out.type = m[1];
  if (m[3] !== undefined) out.default = m[3];
  return out;
}
const withDescription = (o: Json, d: string) => (d ? { ...o, description: d } : o);
const nameOf = (n: Node) => ((n as { name?: Node }).name?.getText() ?? '');

/** One file of the folder, with what it imports by local name. */
interface Module {
  path: string;
  sf: SourceFile;
  imports: Map<string, string>;
}

/** A relative import's module path ('./events.js' from web/components → web/components/events.ts). */
const resolve = (from: string, spec: string) => (spec.startsWith('.') ? posix.join(posix.dirname(from), spec).replace(/\.js$/, '.ts') : spec);

function imports(path: string, sf: SourceFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of sf.statements) {
    if (!isImportDeclaration(s) || !isStringLiteral(s.moduleSpecifier)) continue;
    const from = resolve(path, s.moduleSpecifier.text);
    const clause = s.importClause;
    if (clause?.name) out.set(clause.name.text, from);
    if (clause?.namedBindings && isNamedImports(clause.namedBindings)) for (const e of clause.namedBindings.elements) out.set(e.name.text, from);
  }
  return out;
}

function* walk(n: Node): Generator<Node> {
  yield n;
  const kids: Node[] = [];
  n.forEachChild((c) => { kids.push(c); });
  for (const c of kids) yield* walk(c);
}

/** An element's tag: the default of its `static define(tag = 'tag-name', registry)`. */
function tagOf(c: ClassDeclaration, where: string): string {
  const define = c.members.find((x) => isMethodDeclaration(x) && nameOf(x) === 'define' && has(x, ModifierFlags.Static));
  const tag = define && isMethodDeclaration(define) ? define.parameters[0]?.initializer : undefined;
  return tag && isStringLiteral(tag) ? tag.text : fail(where, "no static define(tag = 'tag-name', …)");
}

const superclass = (c: ClassDeclaration) => c.heritageClauses?.find((h) => h.token === SyntaxKind.ExtendsKeyword)?.types[0]?.expression.getText();

/** Builds the manifest with the compiler's parse and checker of the components' project. */
class Reader {
  constructor(readonly modules: Module[], readonly checker: Checker) {}

  typeText(n: { type?: TypeNode } & Node): string {
    if (n.type) return n.type.getText();
    const t = this.checker.getTypeAtLocation(n);
    const w = t && this.checker.getWidenedType(t);
    return w ? this.checker.typeToString(w) : fail(nameOf(n), 'no type');
  }

  param(p: ParameterDeclaration): Json {
    const o: Json = { name: p.name.getText() };
    if (p.questionToken || p.initializer) o['optional'] = true;
    o['type'] = { text: this.typeText(p) };
    if (p.initializer) o['default'] = p.initializer.getText();
    return o;
  }

  /** Where a name visible in a module is declared. */
  refOf(m: Module, name: string): Ref {
    return { name, module: m.imports.get(name) ?? m.path };
  }

  /** Event classes (extends Event, with `super('name', …)`), by event name. */
  events(): Map<string, Ref> {
    const out = new Map<string, Ref>();
    for (const m of this.modules) {
      for (const c of m.sf.statements.filter(isClassDeclaration)) {
        if (superclass(c) !== 'Event') continue;
        const ctor = c.members.find(isConstructorDeclaration);
        const call = ctor && [...walk(ctor)].find((n) => isCallExpression(n) && n.expression.kind === SyntaxKind.SuperKeyword);
        const arg = call && isCallExpression(call) ? call.arguments[0] : undefined;
        const event = arg && isStringLiteral(arg) ? arg.text : fail(m.path, `${c.name?.text}: no super('event-name', …)`);
        out.set(event, { name: c.name!.text, module: m.path });
      }
    }
    return out;
  }

  eventClass(c: ClassDeclaration): Json {
    const ctor = c.members.find(isConstructorDeclaration);
    const fields = (ctor?.parameters ?? []).filter((p) => has(p, ModifierFlags.Readonly | ModifierFlags.Public))
      .map((p) => ({ kind: 'field', name: p.name.getText(), type: { text: this.typeText(p) }, readonly: true }));
    return withDescription({ kind: 'class', name: c.name!.text, superclass: { name: 'Event', package: 'global:' }, members: fields }, docOf(c));
  }

  /** A class extending HTMLElement, with its tag from `static define(tag = '…')`. */
  element(m: Module, c: ClassDeclaration, events: Map<string, Ref>): Json {
    const where = `${m.path}: ${c.name?.text}`;
    const members = c.members.filter((x) => !nameOf(x).startsWith('#'));
    const observed = members.find((x) => isPropertyDeclaration(x) && nameOf(x) === 'observedAttributes');
    const observedNames = observed && isPropertyDeclaration(observed) && observed.initializer
      ? [...walk(observed.initializer)].filter(isStringLiteral).map((s) => s.text) : [];
    const tagName = tagOf(c, where);

    const attrs = tagsOf(c, 'attr').map((t) => parseTag(t, where));
    const documented = attrs.map((a) => a.name);
    if (documented.join() !== observedNames.join()) fail(where, `@attr ${documented.join(', ')} differ from observedAttributes ${observedNames.join(', ')}`);

    // Properties: accessors (a getter without a setter is readonly) and public fields; then methods.
    const out: Json[] = [];
    const seen = new Set<string>();
    for (const x of members) {
      const name = nameOf(x);
      if (!name || LIFECYCLE.has(name) || has(x, ModifierFlags.Private | ModifierFlags.Protected) || name.startsWith('_')) continue;
      if (isGetAccessorDeclaration(x) || isSetAccessorDeclaration(x) || isPropertyDeclaration(x)) {
        if (seen.has(name)) continue;
        seen.add(name);
        const get = members.find((y) => isGetAccessorDeclaration(y) && nameOf(y) === name);
        const set = members.find((y) => isSetAccessorDeclaration(y) && nameOf(y) === name);
        const o: Json = { kind: 'field', name };
        if (has(x, ModifierFlags.Static)) o['static'] = true;
        o['type'] = { text: this.typeText((get ?? x) as Node & { type?: TypeNode }) };
        if ((get && !set) || has(x, ModifierFlags.Readonly)) o['readonly'] = true;
        if (documented.includes(name)) o['attribute'] = name;
        out.push(withDescription(o, docOf(get ?? x) || (set ? docOf(set) : '')));
      } else if (isMethodDeclaration(x)) {
        const o: Json = { kind: 'method', name };
        if (has(x, ModifierFlags.Static)) o['static'] = true;
        if (x.parameters.length) o['parameters'] = x.parameters.map((p) => this.param(p));
        o['return'] = { type: { text: this.typeText(x) } };
        out.push(withDescription(o, docOf(x)));
      }
    }

    // Events: @fires, each an Event class the element constructs.
    const constructed = new Set([...walk(m.sf)].filter(isNewExpression).map((n) => n.expression.getText()));
    const fired = [...events].filter(([, e]) => constructed.has(e.name) && this.refOf(m, e.name).module === e.module);
    const fires = tagsOf(c, 'fires').map((t) => parseTag(t, where));
    if (fires.map((f) => f.name).sort().join() !== fired.map(([n]) => n).sort().join()) {
      fail(where, `@fires ${fires.map((f) => f.name).join(', ')} differ from the events it constructs: ${fired.map(([n]) => n).join(', ')}`);
    }

    // Custom properties: @cssprop, with the fallback its styles give each var() as the default.
    const defaults = cssDefaults(this.modules);
    const props = tagsOf(c, 'cssprop').map((t) => parseTag(t, where));
    const used = [...defaults.keys()].filter((k) => k.startsWith(`--${tagName}-`));
    if (props.map((p) => p.name).sort().join() !== used.sort().join()) fail(where, `@cssprop ${props.map((p) => p.name).join(', ')} differ from the var()s of its styles: ${used.join(', ')}`);

    return withDescription({
      kind: 'class',
      name: c.name!.text,
      tagName,
      customElement: true,
      superclass: { name: 'HTMLElement', package: 'global:' },
      attributes: attrs.map((a) => {
        const o: Json = { name: a.name };
        if (a.type) o['type'] = { text: a.type };
        if (a.default !== undefined) o['default'] = a.default;
        if (seen.has(a.name)) o['fieldName'] = a.name;
        return withDescription(o, a.description);
      }),
      members: out,
      events: fires.map((f) => withDescription({ name: f.name, type: { text: events.get(f.name)!.name } }, f.description)),
      cssParts: tagsOf(c, 'csspart').map((t) => parseTag(t, where)).map((p) => withDescription({ name: p.name }, p.description)),
      cssProperties: props.map((p) => withDescription(defaults.get(p.name) ? { name: p.name, default: defaults.get(p.name) } : { name: p.name }, p.description)),
    }, docOf(c));
  }
}

/** Every custom property its styles use (`var(--name, fallback)`), with the fallback. */
function cssDefaults(modules: Module[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of modules) {
    const text = m.sf.text;
    for (const v of text.matchAll(/var\((--[\w-]+)\s*(,|\))/g)) {
      let value = '';
      if (v[2] === ',') {
        let i = v.index + v[0].length;
        const start = i;
        for (let depth = 1; i < text.length && depth > 0; i++) depth += text[i] === '(' ? 1 : text[i] === ')' ? -1 : 0;
        value = text.slice(start, i - 1).trim();
      }
      const before = out.get(v[1]!);
      if (before !== undefined && before !== value) fail(m.path, `${v[1]} falls back to both ${before} and ${value}`);
      out.set(v[1]!, value);
    }
  }
  return out;
}

function manifestModule(m: Module, r: Reader, events: Map<string, Ref>, tags: Map<string, string>): Json | null {
  const declarations: Json[] = [];
  const exports: Json[] = [];
  let shown = false;
  const js = (name: string, declaration: Json) => exports.push({ kind: 'js', name, declaration });
  for (const s of m.sf.statements) {
    const exported = has(s, ModifierFlags.Export);
    const as = has(s, ModifierFlags.Default) ? 'default' : null;
    if (isClassDeclaration(s) && s.name) {
      const sup = superclass(s);
      if (sup === 'HTMLElement') declarations.push(r.element(m, s, events));
      else if (sup === 'Event') declarations.push(r.eventClass(s));
      else if (exported) declarations.push(withDescription({ kind: 'class', name: s.name.text }, docOf(s)));
      else continue;
      shown ||= sup === 'HTMLElement' || sup === 'Event';
      if (exported) js(as ?? s.name.text, { name: s.name.text, module: m.path });
    } else if (isFunctionDeclaration(s) && s.name && exported) {
      const o: Json = { kind: 'function', name: s.name.text };
      if (s.parameters.length) o['parameters'] = s.parameters.map((p) => r.param(p));
      o['return'] = { type: { text: r.typeText(s) } };
      declarations.push(withDescription(o, docOf(s)));
      js(as ?? s.name.text, { name: s.name.text, module: m.path });
    } else if (isVariableStatement(s) && exported) {
      for (const d of s.declarationList.declarations) {
        declarations.push(withDescription({ kind: 'variable', name: d.name.getText(), type: { text: r.typeText(d) } }, docOf(s)));
        js(d.name.getText(), { name: d.name.getText(), module: m.path });
      }
    } else if (isExpressionStatement(s) && isCallExpression(s.expression) && isPropertyAccessExpression(s.expression.expression)
      && s.expression.expression.name.getText() === 'define' && tags.has(s.expression.expression.expression.getText())) {
      // `Element.define()` at the top level: this module registers the element.
      const cls = s.expression.expression.expression.getText();
      const arg = s.expression.arguments[0];
      const tag = arg ? (isStringLiteral(arg) ? arg.text : fail(m.path, 'define() with a tag that is not a string literal')) : tags.get(cls)!;
      exports.push({ kind: 'custom-element-definition', name: tag, declaration: r.refOf(m, cls) });
      shown = true;
    } else if (isExportDeclaration(s) && !s.isTypeOnly) {
      const from = s.moduleSpecifier && isStringLiteral(s.moduleSpecifier) ? resolve(m.path, s.moduleSpecifier.text) : null;
      if (!s.exportClause) js('*', { name: '*', package: from });
      else if (isNamedExports(s.exportClause)) {
        for (const e of s.exportClause.elements) {
          if (e.isTypeOnly) continue;
          const local = (e.propertyName ?? e.name).getText();
          js(e.name.getText(), from ? { name: local, module: from } : r.refOf(m, local));
        }
      }
    } else if (isExportAssignment(s) && !s.isExportEquals && isIdentifier(s.expression)) {
      js('default', r.refOf(m, s.expression.text));
    }
  }
  return shown ? { kind: 'javascript-module', path: m.path, declarations, exports } : null;
}

/** custom-elements.json */
export function generateManifest(root: string): string {
  const api = new API({ cwd: root });
  try {
    const config = join(root, PROJECT);
    const snapshot = api.updateSnapshot({ openProjects: [config] });
    const project = snapshot.getProject(config) ?? fail(PROJECT, 'TypeScript did not load it');
    const modules = readdirSync(join(root, FOLDER)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort().map((f): Module => {
      const path = `${FOLDER}/${f}`;
      const sf = project.program.getSourceFile(join(root, path)) ?? fail(path, `not in ${PROJECT}`);
      return { path, sf, imports: imports(path, sf) };
    });
    const r = new Reader(modules, project.checker);
    const events = r.events();
    // Element classes by name, with their tags.
    const tags = new Map<string, string>();
    for (const m of modules) {
      for (const c of m.sf.statements.filter(isClassDeclaration)) {
        if (superclass(c) === 'HTMLElement') tags.set(c.name!.text, tagOf(c, m.path));
      }
    }
    const out = modules.map((m) => manifestModule(m, r, events, tags)).filter((x) => x !== null);
    return `${JSON.stringify({ schemaVersion: '2.1.0', readme: `${FOLDER}/README.md`, modules: out }, null, 2)}\n`;
  } finally {
    api.close();
  }
}
