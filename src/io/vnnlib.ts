// VNNLIB reader (the VNN-COMP property format, an SMT-LIB subset). A file declares inputs
// X_0..X_{n−1} and outputs Y_0..Y_{m−1} as Real constants and asserts constraints; the
// conjunction of the asserts describes the UNSAFE region, and the property holds ("unsat")
// when no input satisfies it. Input constraints must bound single variables (a box); output
// constraints are linear in Y. and/or nest freely: the whole formula becomes a disjunction of
// conjunctions (DNF), each disjunct an input box and rows C·y ≤ d. Errors name the line.
// Strict input bounds (<, >) are read as closed ones; strict output rows keep their flag.
import { readFileSync, statSync } from "node:fs";

export interface VnnDisjunct {
  /** The input box of this disjunct (inputs long). */
  inputLo: Float64Array;
  inputHi: Float64Array;
  /** rows × outputs, row-major: the disjunct holds when C·y ≤ d (< d where strict[r]). */
  C: Float64Array;
  d: Float64Array;
  rows: number;
  strict: boolean[];
  /** The box is empty (some lower bound above its upper bound): nothing satisfies it. */
  empty: boolean;
}

export interface VnnSpec {
  inputs: number;
  outputs: number;
  /** The smallest box holding every non-empty disjunct's box. */
  inputLo: Float64Array;
  inputHi: Float64Array;
  /** Unsafe if ∃ x in some disjunct's box with C·f(x) ≤ d. */
  disjuncts: VnnDisjunct[];
}

export const VNNLIB_LIMITS = { maxBytes: 64 * 2 ** 20, maxDepth: 200, maxDisjuncts: 10_000, maxVariables: 1 << 24 };

type SExpr = { atom: string; line: number } | { list: SExpr[]; line: number };

/** Tokenises and reads the top-level S-expressions (iteratively: no recursion on the input). */
function readSExprs(text: string, fail: (line: number, msg: string) => never): SExpr[] {
  const top: SExpr[] = [];
  const stack: { list: SExpr[]; line: number }[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i];
    if (ch === "\n") {
      line++;
      i++;
    } else if (ch === " " || ch === "\t" || ch === "\r") i++;
    else if (ch === ";") {
      while (i < n && text[i] !== "\n") i++;
    } else if (ch === "(") {
      if (stack.length >= VNNLIB_LIMITS.maxDepth) fail(line, `nesting deeper than ${VNNLIB_LIMITS.maxDepth}`);
      stack.push({ list: [], line });
      i++;
    } else if (ch === ")") {
      const done = stack.pop();
      if (!done) fail(line, "unbalanced ')'");
      (stack.length ? stack[stack.length - 1].list : top).push(done);
      i++;
    } else {
      let j = i;
      while (j < n && !" \t\r\n();".includes(text[j])) j++;
      const atom = { atom: text.slice(i, j), line };
      if (!stack.length) fail(line, `'${atom.atom}' outside parentheses`);
      stack[stack.length - 1].list.push(atom);
      i = j;
    }
  }
  if (stack.length) fail(stack[stack.length - 1].line, "unclosed '(' (file ends inside it)");
  return top;
}

/** Σ coef·var + c, variables keyed "X3" / "Y0". */
interface Lin {
  terms: Map<string, number>;
  c: number;
}

/** expr ≤ 0 (or < 0 when strict). */
interface Atom {
  e: Lin;
  strict: boolean;
  line: number;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const VAR = /^([XY])_(0|[1-9]\d*)$/;

export function parseVnnlib(text: string, source = "spec"): VnnSpec {
  const fail = (line: number, msg: string): never => {
    throw new Error(`${source}:${line}: ${msg}`);
  };
  const declared = { X: new Set<number>(), Y: new Set<number>() };
  let dnf: Atom[][] = [[]];

  const lin = (e: SExpr): Lin => {
    if ("atom" in e) {
      if (NUMBER.test(e.atom)) return { terms: new Map(), c: Number(e.atom) };
      const m = VAR.exec(e.atom);
      if (!m || !declared[m[1] as "X" | "Y"].has(Number(m[2]))) fail(e.line, `undeclared variable '${e.atom}'`);
      return { terms: new Map([[`${m![1]}${m![2]}`, 1]]), c: 0 };
    }
    const [head, ...args] = e.list;
    const op = head && "atom" in head ? head.atom : fail(e.line, "expected an operator");
    const parts = args.map(lin);
    const scaled = (a: Lin, k: number): Lin => ({ terms: new Map([...a.terms].map(([v, c]) => [v, c * k])), c: a.c * k });
    const sum = (xs: Lin[]): Lin => {
      const terms = new Map<string, number>();
      let c = 0;
      for (const x of xs) {
        c += x.c;
        for (const [v, k] of x.terms) terms.set(v, (terms.get(v) ?? 0) + k);
      }
      return { terms, c };
    };
    switch (op) {
      case "+":
        if (!parts.length) fail(e.line, "'+' needs arguments");
        return sum(parts);
      case "-":
        if (!parts.length) fail(e.line, "'-' needs arguments");
        return parts.length === 1 ? scaled(parts[0], -1) : sum([parts[0], ...parts.slice(1).map((p) => scaled(p, -1))]);
      case "*": {
        if (!parts.length) fail(e.line, "'*' needs arguments");
        const vars = parts.filter((p) => p.terms.size > 0);
        if (vars.length > 1) fail(e.line, "product of two variables (only linear constraints are supported)");
        const k = parts.filter((p) => p.terms.size === 0).reduce((a, p) => a * p.c, 1);
        return vars.length ? scaled(vars[0], k) : { terms: new Map(), c: k };
      }
      case "/": {
        if (parts.length !== 2 || parts[1].terms.size > 0) fail(e.line, "'/' must divide by a constant");
        if (parts[1].c === 0) fail(e.line, "division by zero");
        return scaled(parts[0], 1 / parts[1].c);
      }
      default:
        return fail(e.line, `'${op}' is not a linear arithmetic operator`);
    }
  };

  /** Formula → DNF (a list of conjunctions of atoms). */
  const formula = (f: SExpr): Atom[][] => {
    if ("atom" in f) {
      if (f.atom === "true") return [[]];
      if (f.atom === "false") return [];
      return fail(f.line, `expected a constraint, got '${f.atom}'`);
    }
    const [head, ...args] = f.list;
    const op = head && "atom" in head ? head.atom : fail(f.line, "expected an operator");
    switch (op) {
      case "and":
        return args.reduce<Atom[][]>((acc, a) => product(acc, formula(a), f.line), [[]]);
      case "or": {
        const out = args.flatMap((a) => formula(a));
        if (out.length > VNNLIB_LIMITS.maxDisjuncts) fail(f.line, `the formula expands to more than ${VNNLIB_LIMITS.maxDisjuncts} disjuncts`);
        return out;
      }
      case "<=": case "<": case ">=": case ">": case "=": {
        if (args.length < 2) fail(f.line, `'${op}' needs two arguments`);
        const e = args.map(lin);
        const atoms: Atom[] = [];
        for (let k = 0; k + 1 < e.length; k++) {
          const [a, b] = [e[k], e[k + 1]];
          // a ≤ b ⇔ a − b ≤ 0; a ≥ b ⇔ b − a ≤ 0; a = b ⇔ both.
          const minus = (p: Lin, q: Lin): Lin => {
            const terms = new Map(p.terms);
            for (const [v, c] of q.terms) terms.set(v, (terms.get(v) ?? 0) - c);
            return { terms, c: p.c - q.c };
          };
          if (op === "<=" || op === "<" || op === "=") atoms.push({ e: minus(a, b), strict: op === "<", line: f.line });
          if (op === ">=" || op === ">" || op === "=") atoms.push({ e: minus(b, a), strict: op === ">", line: f.line });
        }
        return [atoms];
      }
      default:
        return fail(f.line, `'${op}' is not supported (expected and, or, <=, >=, <, >, =)`);
    }
  };

  const product = (a: Atom[][], b: Atom[][], line: number): Atom[][] => {
    if (a.length * b.length > VNNLIB_LIMITS.maxDisjuncts) fail(line, `the formula expands to more than ${VNNLIB_LIMITS.maxDisjuncts} disjuncts`);
    if (b.length === 1) {
      // The common case (one more conjunct): extend in place; a's lists belong to the caller's accumulator.
      for (const x of a) for (const atom of b[0]) x.push(atom);
      return a;
    }
    const out: Atom[][] = [];
    for (const x of a) for (const y of b) out.push([...x, ...y]);
    return out;
  };

  let lastLine = 1;
  for (const cmd of readSExprs(text, fail)) {
    lastLine = cmd.line;
    if ("atom" in cmd) fail(cmd.line, `unexpected '${cmd.atom}'`);
    const list = (cmd as { list: SExpr[] }).list;
    const head = list[0] && "atom" in list[0] ? list[0].atom : fail(cmd.line, "expected a command");
    switch (head) {
      case "declare-const": {
        const [, nameE, typeE] = list;
        const name = nameE && "atom" in nameE ? nameE.atom : "";
        const m = VAR.exec(name);
        if (list.length !== 3 || !m) fail(cmd.line, `declare-const needs a name X_i or Y_j and a type, got '${name}'`);
        if (!typeE || !("atom" in typeE) || typeE.atom !== "Real") fail(cmd.line, `'${name}' must be declared Real`);
        const set = declared[m![1] as "X" | "Y"];
        const idx = Number(m![2]);
        if (idx >= VNNLIB_LIMITS.maxVariables) fail(cmd.line, `variable index ${idx} is too large`);
        if (set.has(idx)) fail(cmd.line, `'${name}' declared twice`);
        set.add(idx);
        break;
      }
      case "assert":
        if (list.length !== 2) fail(cmd.line, "assert takes one formula");
        dnf = product(dnf, formula(list[1]), cmd.line);
        break;
      case "set-logic": case "set-info": case "set-option": case "check-sat": case "get-model": case "exit":
        break;
      default:
        fail(cmd.line, `unknown command '${head}'`);
    }
  }

  const count = (s: Set<number>, v: string): number => {
    for (let i = 0; i < s.size; i++) if (!s.has(i)) fail(lastLine, `${v}_${i} is not declared, but ${v}_${Math.max(...s)} is`);
    return s.size;
  };
  const inputs = count(declared.X, "X");
  const outputs = count(declared.Y, "Y");
  if (inputs === 0) fail(lastLine, "no input variables (declare-const X_0 Real …)");
  if (outputs === 0) fail(lastLine, "no output variables (declare-const Y_0 Real …)");
  if (dnf.length === 0) fail(lastLine, "the constraints are unsatisfiable as written (false)");

  const disjuncts = dnf.map((atoms, k): VnnDisjunct => {
    const lo = new Float64Array(inputs).fill(-Infinity);
    const hi = new Float64Array(inputs).fill(Infinity);
    const rows: { c: Float64Array; d: number; strict: boolean }[] = [];
    let empty = false;
    for (const a of atoms) {
      const xs = [...a.e.terms].filter(([v, c]) => v[0] === "X" && c !== 0);
      const ys = [...a.e.terms].filter(([v, c]) => v[0] === "Y" && c !== 0);
      if (xs.length && ys.length) fail(a.line, "a constraint mixes inputs and outputs (not supported)");
      if (xs.length > 1) fail(a.line, `an input constraint must bound one variable (a box), this one has ${xs.map(([v]) => `X_${v.slice(1)}`).join(", ")}`);
      if (xs.length === 1) {
        // a·X_i + c ≤ 0: X_i ≤ −c/a (a > 0) or X_i ≥ −c/a (a < 0). Widen a rounded quotient outward.
        const [[v, coef]] = xs;
        const i = Number(v.slice(1));
        let bound = (0 - a.e.c) / coef + 0; // + 0: never −0
        const exact = Number.isInteger(Math.log2(Math.abs(coef))); // dividing by a power of two is exact
        if (coef > 0) {
          if (!exact) bound += Math.abs(bound) * Number.EPSILON + Number.MIN_VALUE;
          hi[i] = Math.min(hi[i], bound);
        } else {
          if (!exact) bound -= Math.abs(bound) * Number.EPSILON + Number.MIN_VALUE;
          lo[i] = Math.max(lo[i], bound);
        }
      } else if (ys.length) {
        const c = new Float64Array(outputs);
        for (const [v, coef] of ys) c[Number(v.slice(1))] = coef;
        rows.push({ c, d: 0 - a.e.c, strict: a.strict }); // 0 − c: never −0
      } else if (a.e.c > 0 || (a.strict && a.e.c === 0)) {
        empty = true; // a false constant constraint: this disjunct is unsatisfiable
      }
    }
    for (let i = 0; i < inputs; i++) {
      if (!Number.isFinite(lo[i]) || !Number.isFinite(hi[i])) {
        fail(lastLine, `X_${i} has no ${Number.isFinite(lo[i]) ? "upper" : "lower"} bound${dnf.length > 1 ? ` in disjunct ${k}` : ""} (inputs must lie in a box)`);
      }
      if (lo[i] > hi[i]) empty = true;
    }
    const C = new Float64Array(rows.length * outputs);
    rows.forEach((r, j) => C.set(r.c, j * outputs));
    return { inputLo: lo, inputHi: hi, C, d: Float64Array.from(rows, (r) => r.d), rows: rows.length, strict: rows.map((r) => r.strict), empty };
  });
  const inputLo = new Float64Array(inputs).fill(Infinity);
  const inputHi = new Float64Array(inputs).fill(-Infinity);
  for (const dj of disjuncts) {
    if (dj.empty) continue;
    for (let i = 0; i < inputs; i++) {
      inputLo[i] = Math.min(inputLo[i], dj.inputLo[i]);
      inputHi[i] = Math.max(inputHi[i], dj.inputHi[i]);
    }
  }
  return { inputs, outputs, inputLo, inputHi, disjuncts };
}

/** Reads and parses a .vnnlib file (size-checked first). */
export function loadVnnlib(path: string): VnnSpec {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read spec (${code === "ENOENT" ? "no such file" : code ?? (e as Error).message})`);
  }
  if (size > VNNLIB_LIMITS.maxBytes) throw new Error(`${path}: spec is ${size} bytes (limit ${VNNLIB_LIMITS.maxBytes})`);
  return parseVnnlib(readFileSync(path, "utf8"), path);
}
