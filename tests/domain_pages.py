"""Code and math pages written for the domain-aware rule tests (our own texts, in the shapes of
real documentation: a tutorial with examples and a doctest session, a C API reference, a LaTeX
derivation, a computer-algebra session), and boilerplate of those domains (a docs navigation
sidebar, a copy-paste spam page, a function index, a heading stub). tests/golden/*/input.jsonl hold
them as records (`dom-*` ids); tests/filters/test_domain_rules.py says what each filter must do with them."""
from __future__ import annotations

import json

CODE_TUTORIAL = '''Reading CSV files with the csv module
The csv module reads and writes tabular data in the comma-separated format that spreadsheets export.
Open the file with newline="" so that the reader sees the line endings itself:
import csv

with open("prices.csv", newline="") as f:
    reader = csv.reader(f)
    for row in reader:
        print(row)
Each row comes back as a list of strings.
To get dictionaries keyed by the header row, use DictReader instead:
import csv

with open("prices.csv", newline="") as f:
    for row in csv.DictReader(f):
        print(row["item"], row["price"])
In the interpreter:
>>> import csv
>>> rows = list(csv.reader(["a,b", "1,2"]))
>>> rows
[['a', 'b'], ['1', '2']]
>>> rows[1][0]
'1'
Writing works the same way, with a writer object:
import csv

with open("out.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["item", "price"])
    writer.writerow(["apple", 0.5])
Note
The writer quotes fields that contain the delimiter.'''

C_REFERENCE = '''Point objects
type geo_point
A point in the plane, with double precision coordinates x and y.
geo_point *geo_point_new(double x, double y)
Return value: New reference.
Create a point at (x, y). Return NULL and set an error if memory runs out.
geo_point *geo_point_copy(const geo_point *p)
Return value: New reference.
Return a copy of p, or NULL and set an error if memory runs out.
double geo_point_x(const geo_point *p)
Return the x coordinate of p. This function always succeeds.
double geo_point_y(const geo_point *p)
Return the y coordinate of p. This function always succeeds.
int geo_point_move(geo_point *p, double dx, double dy)
Move p by dx and dy. Return 0 on success, or -1 and set an error if the result overflows.
double geo_point_distance(const geo_point *a, const geo_point *b)
Return the Euclidean distance between a and b. This function always succeeds.
void geo_point_free(geo_point *p)
Release p. Passing NULL is allowed and does nothing.
Example:
geo_point *a = geo_point_new(0.0, 0.0);
geo_point *b = geo_point_new(3.0, 4.0);
if (a == NULL || b == NULL) {
    return -1;
}
printf("%f\\n", geo_point_distance(a, b));  /* 5.000000 */
geo_point_free(a);
geo_point_free(b);'''

MATH_DERIVATION = '''Integration by parts: a worked example
We want to compute \\( \\int_0^1 x e^x \\, dx \\).
Choose \\( u = x \\) and \\( dv = e^x \\, dx \\), so that \\( du = dx \\) and \\( v = e^x \\).
The rule
\\[ \\int u \\, dv = u v - \\int v \\, du \\]
gives
\\[ \\int_0^1 x e^x \\, dx = \\left[ x e^x \\right]_0^1 - \\int_0^1 e^x \\, dx \\]
\\[ = e - (e - 1) \\]
\\[ = 1 \\]
Check by differentiating the antiderivative \\( F(x) = (x - 1) e^x \\):
\\[ F'(x) = e^x + (x - 1) e^x = x e^x \\]
so \\( F(1) - F(0) = 0 - (-1) = 1 \\), as above.
The same choice works for \\( \\int x^n e^x \\, dx \\), which gives the recurrence
\\[ I_n = x^n e^x - n I_{n-1} \\]
with \\( I_0 = e^x \\).'''

CAS_SESSION = '''Solving a quadratic equation
The function solve returns the list of solutions of an equation in the given variable.
(%i1) eq: x^2 - 5*x + 6 = 0$
(%i2) solve(eq, x);
(%o2)                       [x = 2, x = 3]
(%i3) factor(x^2 - 5*x + 6);
(%o3)                      (x - 3) (x - 2)
When the discriminant is negative the roots are complex:
(%i4) solve(x^2 + 2*x + 5 = 0, x);
(%o4)               [x = - 2 %i - 1, x = 2 %i - 1]
A function can be defined with := and then integrated or differentiated:
(%i5) f(x) := x^2 + 2*x + 5$
(%i6) integrate(f(x), x, 0, 1);
                                   19
(%o6)                              --
                                   3
(%i7) diff(f(x), x);
(%o7)                            2 x + 2
(%i8) solve(diff(f(x), x) = 0, x);
(%o8)                           [x = - 1]'''

CODE_NAV = '''Docs
API reference
Modules
csv
json
re
os.path
pathlib
shutil
tempfile
Previous topic
Next topic
This page
Report a bug
Show source
Quick search'''

CODE_SPAM = "\n".join(['Best free python code, copy and paste the hello world code now:', 'print("hello world")  # best free code'] * 14)

MATH_INDEX = "Function and variable index\n" + "\n".join(f"{name}: {chapter}" for name, chapter in [
    ("abs", "Arithmetic functions"), ("acos", "Trigonometric functions"), ("acosh", "Hyperbolic functions"),
    ("asin", "Trigonometric functions"), ("asinh", "Hyperbolic functions"), ("atan", "Trigonometric functions"),
    ("atan2", "Trigonometric functions"), ("bessel_j", "Bessel functions"), ("beta", "Gamma and factorial"),
    ("binomial", "Combinatorics"), ("ceiling", "Arithmetic functions"), ("coeff", "Polynomials"),
    ("cos", "Trigonometric functions"), ("cosh", "Hyperbolic functions"), ("determinant", "Matrices"),
    ("diff", "Differentiation"), ("erf", "Error function"), ("exp", "Exponential functions"),
    ("expand", "Simplification"), ("factor", "Polynomials"), ("floor", "Arithmetic functions"),
    ("gamma", "Gamma and factorial"), ("gcd", "Number theory"), ("integrate", "Integration"),
    ("invert", "Matrices"), ("limit", "Limits"), ("log", "Exponential functions"), ("solve", "Equations"),
])

MATH_STUB = '''12.4 Elliptic integrals
See the chapter on special functions.'''


# id prefix -> (text, kind domain-detect gives it); "kept" pages are real content, "boilerplate"
# pages must be dropped under the rules of their domain
KEPT = {
    "dom-code-tutorial": (CODE_TUTORIAL, "code"),
    "dom-code-reference": (C_REFERENCE, "code"),
    "dom-math-derivation": (MATH_DERIVATION, "math"),
    "dom-math-cas-session": (CAS_SESSION, "math"),
}
BOILERPLATE = {
    "dom-code-nav": (CODE_NAV, "code"),
    "dom-code-spam": (CODE_SPAM, "code"),
    "dom-math-index": (MATH_INDEX, "math"),
    "dom-math-stub": (MATH_STUB, "math"),
}


def annotations(kind: str | None) -> str | None:
    """The annotations column as domain-detect leaves it (scores and evidence left out)."""
    return json.dumps({"domain": {"kind": kind}}, sort_keys=True, separators=(",", ":")) if kind else None


def filter_rows() -> list[dict]:
    """Golden input rows for a rule filter: each real page as prose (no domain: what the prose
    rules did to it) and as its domain, each boilerplate page as its domain."""
    rows = []
    for rid, (text, kind) in KEPT.items():
        rows.append({"id": f"{rid}-as-prose", "text": text, "language": "en"})
        rows.append({"id": f"{rid}-as-{kind}", "text": text, "language": "en", "annotations": annotations(kind)})
    for rid, (text, kind) in BOILERPLATE.items():
        rows.append({"id": f"{rid}-as-{kind}", "text": text, "language": "en", "annotations": annotations(kind)})
    return rows


# ------------------------------------------------------------------------------------------ HTML
# Documentation layouts for the extraction tests (our own pages, in the markup of the generators).

# Texinfo (makeinfo): the section is named after its subject, "Comments", which trafilatura prunes
# as a comment thread; no <main>/<article>; definitions in <dl class="def">; navigation bars
# above and below; pilcrow permalinks
TEXINFO_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Comments (Calc 2.1 Manual)</title>
<meta name="Generator" content="makeinfo"></head>
<body lang="en">
<div class="section" id="Comments">
<div class="header"><p>Next: <a href="calc_70.html">Files</a>, Previous: <a href="calc_68.html">Input</a>,
Up: <a href="calc_68.html">Input</a> &nbsp; [<a href="calc_toc.html">Contents</a>][<a href="calc_idx.html">Index</a>]</p></div>
<h3 class="section">13.1 Comments</h3>
<p>A comment in Calc input is any text between <code>/*</code> and <code>*/</code>. The parser treats a
comment as white space, so a comment always ends a token.</p>
<p>Comments can be nested, and every <code>/*</code> needs its own <code>*/</code>.</p>
<dl class="def"><dt id="index-strip_comments"><span class="category">Function: </span><strong>strip_comments</strong>
<em>(<var>text</var>)</em><a class="copiable-anchor" href="#index-strip_comments"> &para;</a></dt>
<dd><p>Returns <var>text</var> without its comments.</p></dd></dl>
<dl class="def"><dt id="index-comment_depth"><span class="category">Function: </span><strong>comment_depth</strong>
<em>(<var>text</var>)</em><a class="copiable-anchor" href="#index-comment_depth"> &para;</a></dt>
<dd><p>Returns the deepest nesting of comments in <var>text</var>.</p></dd></dl>
<p>Examples:</p>
<div class="example"><pre class="example">(%i1) /* a variable */ a : 1234;
(%o1)                         1234
(%i2) b : a^2;  /* its square */
(%o2)                        1522756
</pre></div>
</div>
<hr>
<div class="header"><p>Next: <a href="calc_70.html">Files</a>, Previous: <a href="calc_68.html">Input</a>,
Up: <a href="calc_68.html">Input</a> &nbsp; [<a href="calc_toc.html">Contents</a>][<a href="calc_idx.html">Index</a>]</p></div>
</body></html>"""

# Jekyll with Rouge: code blocks inside <figure class="highlight">, which trafilatura drops
JEKYLL_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Packaging a small library</title></head>
<body><header><nav><a href="/">Home</a> <a href="/posts">Posts</a></nav></header>
<main><article><h1>Packaging a small library</h1>
<p>This guide shows how to make a small Python project installable, in three steps and one file.</p>
<p>First, lay out the project so that the package sits in its own folder:</p>
<figure class="highlight"><pre><code class="language-python" data-lang="python"><span class="n">geo</span><span class="o">/</span>
    <span class="n">geo</span><span class="o">/</span>
        <span class="n">__init__</span><span class="p">.</span><span class="n">py</span>
    <span class="n">pyproject</span><span class="p">.</span><span class="n">toml</span></code></pre></figure>
<p>Then export the public functions from the package's <code class="language-plaintext highlighter-rouge">__init__.py</code>:</p>
<figure class="highlight"><pre><code class="language-python" data-lang="python"><span class="kn">from</span> <span class="nn">.core</span> <span class="kn">import</span> <span class="p">(</span>
    <span class="n">distance</span><span class="p">,</span>
    <span class="n">midpoint</span><span class="p">,</span>
<span class="p">)</span></code></pre></figure>
<p>Finally, build the wheel with the standard build front end and upload it when the tests pass.</p>
</article></main>
<footer><p>Written in 2023. <a href="/feed.xml">RSS</a></p></footer></body></html>"""

# Sphinx: role="main" frame, related-links navigation bar, headerlink pilcrows, API definitions
SPHINX_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>shapes - Geometric shapes</title></head>
<body>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3><ul>
<li><a href="genindex.html">index</a></li><li><a href="py-modindex.html">modules</a> |</li>
<li><a href="numbers.html">next</a> |</li><li><a href="intro.html">previous</a> |</li></ul></div>
<div class="document"><div class="body" role="main">
<section id="module-shapes"><h1>shapes - Geometric shapes<a class="headerlink" href="#module-shapes" title="Permalink to this heading">¶</a></h1>
<p>This module computes areas and perimeters of plane shapes given by their dimensions.</p>
<dl class="py function"><dt class="sig sig-object py" id="shapes.area"><span class="sig-prename">shapes.</span><span class="sig-name">area</span>(<em>shape</em>)<a class="headerlink" href="#shapes.area" title="Permalink to this definition">¶</a></dt>
<dd><p>Return the area of <em>shape</em>, a float.</p></dd></dl>
<dl class="py function"><dt class="sig sig-object py" id="shapes.perimeter"><span class="sig-prename">shapes.</span><span class="sig-name">perimeter</span>(<em>shape</em>)<a class="headerlink" href="#shapes.perimeter" title="Permalink to this definition">¶</a></dt>
<dd><p>Return the perimeter of <em>shape</em>, a float.</p></dd></dl>
<div class="highlight-python3 notranslate"><div class="highlight"><pre><span></span><span class="gp">&gt;&gt;&gt; </span><span class="n">area</span><span class="p">(</span><span class="n">Square</span><span class="p">(</span><span class="mi">2</span><span class="p">))</span>
<span class="go">4.0</span>
</pre></div></div>
</section></div></div></body></html>"""
