"""Labelling functions for code and math pages, over a page's text and the counts `extract`
measured on its HTML (`annotations["html"]`, pipeline/extract/features.py).

Llama 3 (§3.1.1) runs "domain-specific pipelines" for code and reasoning pages: extraction, text
features and heuristics of their own. These functions are the features: each looks at one kind of
evidence and votes in 0..1; a domain's score combines its votes as a noisy-or (1 - prod(1 - v)), so
two independent weak signals make a stronger one and no single signal needs to be certain. A vote
is `weight x min(1, measure / full_at)`: the measure, where it saturates, and how much that kind of
evidence alone is worth (DomainSignalsConfig). Every vote is returned with its measure, so a score
can be read back (`evidence`).

CODE: code blocks (<pre> share of the text), syntax-highlighter markup, API definitions
(<dt id=...>), inline code, interactive prompts (`>>>`, `$ `, `In [1]:`), lines that read as code
(statements ending in `;`/`{`/`}`/`:`, keywords that start statements, assignments, calls), and
programming keywords among the words.
MATH: formula markup (MathML, TeX scripts, MathJax), LaTeX in the text (`\\frac`, `\\(..\\)`,
`$$`), equations and math symbols (`x^2`, `a_1`, `≤`, `∫`), math vocabulary (theorem, integral,
polynomial ...), and computer-algebra sessions and definitions (`(%i1)`, `In[1]:=`, `f(x) :=`,
`integrate(`, `ratsimp(`).

The weights and saturation points are our measurements on ../shared/data/domains (Python docs as
code, Maxima manual as math) against the 268 shared crawl pages (bench/domain_recall.py), set for
precision: a crawl page with one shell command or one formula stays prose.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

# ---------------------------------------------------------------------------------------- code

# interactive prompts at a line start: Python/doctest, shell, IPython, Ruby, Node, SQL clients,
# Windows cmd/PowerShell
_PROMPT = re.compile(
    r"^[ \t]*(?:>>>[ \t]|\$[ \t]+[a-z./~]|#[ \t]+(?:apt|yum|dnf|make|cd|ls|echo|sudo)\b|In[ \t]*\[\d+\]:|"
    r"irb\(\w+\)|(?:mysql|postgres|sqlite|psql)[=>-]*>[ \t]|[A-Z]:\\[^>\n]*>|PS[ \t]+[A-Z]:\\)",
    re.MULTILINE,
)
# a line that reads as code: ends like a statement or block, or starts with a statement keyword,
# or is an assignment / call / declaration
_CODE_END = re.compile(r"(?:[;{}]|\)[ \t]*:|\b(?:else|try|finally)[ \t]*:|=>|->|\\)[ \t]*$")
_STATEMENT_KEYWORDS = (
    "def class import return yield raise assert elif while #include #define #if #endif public private "
    "protected static void int char const let var function fn func package using namespace struct "
    "typedef enum SELECT INSERT UPDATE CREATE DELETE echo export sudo pip npm cd ls"
).split()
_CODE_START = re.compile(
    r"^[ \t]*(?:from\s+[\w.]+\s+import|for\s+\w+\s+in|if\s*\(|if\s+[\w.]+\s*(?:==|!=|is|in|not|<|>)|with\s+[\w.]+\(|"
    + "|".join(map(re.escape, _STATEMENT_KEYWORDS))
    + r")\b"
)
_CODE_ASSIGN = re.compile(r"^[ \t]*[A-Za-z_][\w.\[\]'\"]*[ \t]*(?:[-+*/%|&^]?=|:=)[ \t]*\S")
_CODE_CALL = re.compile(r"^[ \t]*[A-Za-z_][\w.]*\([^()\n]*\)[ \t]*;?[ \t]*$")
# identifiers and keywords that prose does not use ("if", "for", "return", "self", "true" are
# English words; "http", "json", "api" are on every web page: measured on the shared crawl pages)
_CODE_WORDS = frozenset(
    "def elif lambda nullptr void int char const struct typedef enum printf println malloc sizeof "
    "namespace typename kwargs isinstance stdout stdin stderr argv argc bool str dict tuple iter "
    "pyobject py_ssize_t".split()
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# ---------------------------------------------------------------------------------------- math

# LaTeX: commands that only formulas use, and the inline/display delimiters
_LATEX_COMMANDS = (
    "frac dfrac tfrac sqrt sum prod int iint oint lim infty partial nabla cdot times le leq ge geq neq "
    "approx equiv pm mp alpha beta gamma delta epsilon varepsilon theta lambda mu sigma omega phi "
    "varphi pi rho tau mathbb mathcal mathrm mathbf operatorname left right binom log ln exp sin cos "
    "tan vec hat bar overline forall exists in subset cup cap"
).split()
_LATEX_ENVIRONMENTS = "equation align matrix pmatrix bmatrix cases".split()
_LATEX = re.compile(
    r"\\(?:" + "|".join(_LATEX_COMMANDS) + r"|begin\{(?:" + "|".join(_LATEX_ENVIRONMENTS) + r")\*?\})(?![A-Za-z])"
    r"|\\\(|\\\[|\$\$"
)
# math notation in plain text: powers, subscripts, math symbols
_POWER = re.compile(r"(?<![\w.])(?:[A-Za-z]|\d+|\))\^[-+]?(?:\d+|[A-Za-z]\b|\()")
_SUBSCRIPT = re.compile(r"\b[A-Za-z]_(?:\d+|[a-z]\b|\{)")
_MATH_SYMBOLS = re.compile("[∑∏∫∬∮√∞≤≥≠≈≡∂∇∈∉⊂⊆∪∩∀∃±∓×÷·′″²³⁴ⁿ₀₁₂₃αβγδεθλμσφψωπΓΔΘΛΣΦΨΩ]")
# words that are math wherever they are used: not "function", "variable", "expression" (every
# programming manual has them), nor "series", "limit", "prime", "root", "factor", "distribution",
# "proof", "beta", "ideal" (sports, finance and product pages use them: measured on the shared
# crawl pages)
_MATH_WORDS = frozenset(
    "theorem theorems lemma lemmas corollary axiom axioms integral integrals integrand derivative "
    "derivatives differentiation differentiate differential polynomial polynomials monomial monomials "
    "coefficient coefficients eigenvalue eigenvalues eigenvector eigenvectors matrices determinant "
    "determinants tensor tensors vectors scalar scalars equation equations inequality inequalities "
    "logarithm logarithms logarithmic exponential trigonometric sine cosine hyperbolic hypergeometric "
    "factorial factorials divisor divisors modulo congruence algebra algebraic calculus manifold "
    "manifolds convergent divergent asymptotic denominator numerator irrational quotient orthogonal "
    "quadratic cubic recurrence recurrences summation simplification factorization jacobian fourier "
    "bessel legendre zeta elliptic abelian groebner commutative noncommutative isomorphism "
    "homomorphism permutation permutations combinatorial combinatorics variance".split()
)
# two-word terms that are math where single words are not ("real number", "positive integer")
_MATH_PHRASES = re.compile(
    r"\b(?:(?:real|complex|rational|natural|prime|floating-point)\s+numbers?|(?:positive|negative|nonnegative)\s+integers?|"
    r"(?:probability|cumulative)\s+(?:density|distribution)|density\s+functions?|random\s+variables?|"
    r"standard\s+deviation|(?:power|taylor|fourier|laurent)\s+series|square\s+roots?|absolute\s+value|"
    r"linear\s+(?:equations?|systems?|algebra)|partial\s+fractions?|(?:upper|lower)\s+bound)\b",
    re.IGNORECASE,
)
# a word count below this is a mention, not a subject (a news page naming "the equation")
_MIN_WORD_HITS = 3
# computer-algebra sessions and syntax: Maxima's (%i1)/(%o1), Mathematica's In[1]:=, Sage,
# GAP, Octave prompts; definitions "f(x) := ..."; calls of the usual CAS functions
_CAS_PROMPT = re.compile(r"^[ \t]*(?:\(%[io]\d+\)|In\[\d+\]:=|Out\[\d+\]=|sage:[ \t]|gap>[ \t]|octave:\d+>)", re.MULTILINE)
# Maxima ends a statement whose result is not shown with "$" ("load(\"affine\")$"); a LaTeX
# formula ending a line ("... of $f(x)$") matches as well, math either way
_CAS_SILENT_END = re.compile(r"[\w)\]]\$[ \t]*$", re.MULTILINE)
# computer-algebra systems by name (case-sensitive; "Maple", "Sage", "Magma", "Axiom" are also
# ordinary words, left out)
_CAS_NAMES = re.compile(r"\b(?:Maxima|Mathematica|Wolfram Language|SageMath|SymPy|Macaulay2|PARI/GP|GNU Octave|MATLAB)\b")
_CAS_DEFINE = re.compile(r"\b[A-Za-z]\w*\([ \t]*[A-Za-z]\w*(?:[ \t]*,[ \t]*[A-Za-z]\w*)*[ \t]*\)[ \t]*:=")
_CAS_FUNCTIONS = (
    "integrate diff solve expand factor ratsimp radcan trigsimp trigreduce trigexpand simplify "
    "fullsimplify limit taylor powerseries subst coeff determinant eigenvalues eigenvectors invert "
    "charpoly linsolve algsys realroots allroots nroots partfrac laplace ilt ode2 desolve sum product "
    "plot2d plot3d gcd lcm ifactors primep binomial factorial matrix transpose rank mod expt sqrt exp "
    "log sin cos tan atan asin acos sinh cosh bessel_j gamma zeta erf"
).split()
_CAS_CALL = re.compile(r"\b(?:" + "|".join(_CAS_FUNCTIONS) + r")\(")


class Vote(BaseModel):
    """One labelling function's weight: its vote is `weight x min(1, measure / full_at)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weight: float = Field(ge=0, le=1)
    full_at: float = Field(gt=0)


class DomainSignalsConfig(BaseModel):
    # Our measurements on ../shared/data/domains against the shared crawl pages
    # (`bench/domain_recall.py --votes` prints each vote's distribution per label). Each comment
    # says what the measure counts; characters, lines and words are the extracted text's.
    model_config = ConfigDict(extra="forbid", frozen=True)
    code_blocks: Vote = Vote(weight=0.8, full_at=0.15)  # <pre> characters per text character
    highlight: Vote = Vote(weight=0.5, full_at=3)  # code elements with a highlighter's class
    api_defs: Vote = Vote(weight=0.5, full_at=4)  # anchored definition terms
    inline_code: Vote = Vote(weight=0.5, full_at=0.04)  # inline <code> characters per text character
    prompts: Vote = Vote(weight=0.8, full_at=3)  # prompt lines
    code_lines: Vote = Vote(weight=0.85, full_at=0.3)  # code-like lines per line
    code_words: Vote = Vote(weight=0.5, full_at=0.03)  # programming keywords per word
    math_markup: Vote = Vote(weight=0.9, full_at=3)  # formula elements in the HTML
    latex: Vote = Vote(weight=0.9, full_at=5)  # LaTeX commands and delimiters
    notation: Vote = Vote(weight=0.6, full_at=0.005)  # powers, subscripts, math symbols per character
    math_words: Vote = Vote(weight=0.7, full_at=0.025)  # math words and terms per word
    cas: Vote = Vote(weight=0.9, full_at=3)  # CAS prompts, := definitions, "$"-ended statements
    cas_names: Vote = Vote(weight=0.6, full_at=3)  # computer-algebra systems named
    cas_calls: Vote = Vote(weight=0.6, full_at=6)  # calls of computer-algebra functions


@dataclass(frozen=True)
class Signal:
    score: float  # 0..1: noisy-or of the votes
    votes: dict[str, float]  # each labelling function's vote
    measures: dict[str, float]  # what each measured

    def evidence(self, digits: int = 3) -> dict[str, list[float]]:
        """{labelling function: [vote, measure]} for the functions that voted."""
        return {k: [round(v, digits), round(self.measures[k], 4)] for k, v in self.votes.items() if v > 0}


def _vote(vote: Vote, measure: float) -> float:
    return vote.weight * min(1.0, measure / vote.full_at)


def _signal(config: DomainSignalsConfig, measures: dict[str, float]) -> Signal:
    votes = {name: _vote(getattr(config, name), m) for name, m in measures.items()}
    score = 1.0 - math.prod(1.0 - v for v in votes.values())
    return Signal(round(score, 4), votes, measures)


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def code_measures(text: str, html: dict | None) -> dict[str, float]:
    html = html or {}
    n_chars = max(len(text), 1)
    lines = _lines(text)
    n_code_lines = sum(
        1
        for line in lines
        if _CODE_END.search(line) or _CODE_START.match(line) or _CODE_ASSIGN.match(line) or _CODE_CALL.match(line)
    )
    words = _WORD.findall(text)
    n_keywords = sum(1 for w in words if w.lower() in _CODE_WORDS or (w.startswith("__") and w.endswith("__")))
    if n_keywords < _MIN_WORD_HITS:
        n_keywords = 0
    return {
        "code_blocks": min(html.get("pre_chars", 0) / n_chars, 1.0),
        "highlight": float(html.get("highlight", 0)),
        "api_defs": float(html.get("defs", 0)),
        "inline_code": min(html.get("code_chars", 0) / n_chars, 1.0),
        "prompts": float(len(_PROMPT.findall(text))),
        "code_lines": n_code_lines / max(len(lines), 1),
        "code_words": n_keywords / max(len(words), 1),
    }


def math_measures(text: str, html: dict | None) -> dict[str, float]:
    html = html or {}
    n_chars = max(len(text), 1)
    words = [w.lower() for w in _WORD.findall(text)]
    n_notation = len(_POWER.findall(text)) + len(_SUBSCRIPT.findall(text)) + len(_MATH_SYMBOLS.findall(text))
    n_math_words = sum(1 for w in words if w in _MATH_WORDS) + len(_MATH_PHRASES.findall(text))
    if n_math_words < _MIN_WORD_HITS:
        n_math_words = 0
    return {
        "math_markup": float(html.get("math", 0)),
        "latex": float(len(_LATEX.findall(text))),
        "notation": n_notation / n_chars,
        "math_words": n_math_words / max(len(words), 1),
        "cas": float(len(_CAS_PROMPT.findall(text)) + len(_CAS_DEFINE.findall(text)) + len(_CAS_SILENT_END.findall(text))),
        "cas_names": float(len(_CAS_NAMES.findall(text))),
        "cas_calls": float(len(_CAS_CALL.findall(text))),
    }


def code_signal(text: str, html: dict | None = None, config: DomainSignalsConfig = DomainSignalsConfig()) -> Signal:
    """How much the page reads as code (0..1), with each labelling function's vote."""
    return _signal(config, code_measures(text, html))


def math_signal(text: str, html: dict | None = None, config: DomainSignalsConfig = DomainSignalsConfig()) -> Signal:
    """How much the page reads as mathematics (0..1), with each labelling function's vote."""
    return _signal(config, math_measures(text, html))


class KindRule(BaseModel):
    """How the two scores make the page's kind (the rule set the filters judge it by)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # a domain needs this score (two independent votes, or one strong one): our measurement on
    # ../shared/data/domains, where 0.6 keeps the crawl pages out (1 code tutorial among 268 is
    # called code) and leaves the docs' chapter-overview and table-of-contents pages to the prose
    # rules (code precision 0.97, math 1.0 at 0.6; 0.94 / 0.98 at 0.5)
    min_score: float = Field(0.6, ge=0, le=1)
    # math wins a tie within this much: pages that compute mathematics read as code too (CAS
    # sessions are code blocks), pages about code rarely read as math
    math_margin: float = Field(0.1, ge=0, le=1)
    # ... and wins outright when computer-algebra evidence (sessions, definitions, names) votes at
    # least this much: the code of such a page is the CAS's
    cas_override: float = Field(0.5, ge=0, le=1)


def domain_kind(code: Signal, math_: Signal, rule: KindRule = KindRule()) -> str | None:
    """The page's kind from the two signals: "math", "code" or None (prose)."""
    cas = 1.0 - (1.0 - math_.votes.get("cas", 0.0)) * (1.0 - math_.votes.get("cas_names", 0.0))
    if math_.score >= rule.min_score and (math_.score + rule.math_margin >= code.score or cas >= rule.cas_override):
        return "math"
    if code.score >= rule.min_score:
        return "code"
    return None
