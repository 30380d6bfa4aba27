"""Every command in README.md, docs/*.md and artifacts/README.md exists: a renamed option or
a value the command refuses cannot leave a stale page.

The rule the pages follow: **every fenced block names its language, and a block of shell is
either ```bash (commands a reader can paste, every one checked here) or ```text (shown as text:
output, transcripts, commands with placeholders such as PORT or URL; not run).** ``sh``,
``shell`` and fences without a language are refused, so no block is ambiguous. Indented blocks
are pictures (the stage diagram, a layout), never commands.

In ```bash blocks each line is split into simple commands. ``mnist-flow …`` is parsed by the
real parser (subcommand, options, choices, types) and its values are validated as the command
itself validates them before any work (ranges, settings the optimizer ignores, a sweep's
points, a serve's cron and time zone); the cheap ones (``history``, ``explain``,
``production``, ``--help``) are run. ``prefect …`` subcommands and options must be in Prefect's
own ``--help``; benchmark scripts, test paths, markers and pip extras must exist; any other
program must be listed in NOT_OURS. The ``$ mnist-flow …`` lines of ```text transcripts are
checked the same way. Inline ``mnist-flow …`` spans in the prose must name a real subcommand and
real options; inline ``python bench/….py`` spans a real script and its options; the README's
Layout block every module of the packages it describes.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import COMMANDS, main, parse_args, subcommand_parser
from tasks.core.errors import MnistFlowError

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
         REPO_ROOT / "artifacts" / "README.md"]
SHELL = "bash"  # the one language of blocks that are run
LANGUAGES = {SHELL, "text", "python", "json"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`(mnist-flow(?: [^`]*)?)`")
# shell variables the pages' loops use, and a value each takes
SHELL_VALUES = {"$d": "mnist", "$p": "original"}
# commands of other tools the pages show for context (installing, linting, the shell itself)
NOT_OURS = {"python3", "sudo", "export", "for", "do", "done", "grep", "git", "ruff", "cd",
            "apt-get", ".", "source", "curl"}
CHEAP = {"history", "explain", "production"}


def shell_lines(text: str) -> Iterator[str]:
    """The command lines of a page's fenced blocks: ```bash blocks whole, and the ``$ …`` lines
    of the others; continuation lines joined."""
    for language, body in FENCE.findall(text):
        body = body.replace("\\\n", " ")
        for line in body.splitlines():
            if language == SHELL:
                yield line
            elif line.startswith("$ "):
                yield line[2:]


def simple_commands(line: str) -> Iterator[list[str]]:
    """``a && b | c; d`` → its simple commands, comments and leading ``VAR=value`` dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set("();<>|&"):
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words:
                yield words
            words = []
        else:
            words.append(token)


def documented() -> list[tuple[str, list[str]]]:
    return [(page.name, words) for page in PAGES
            for line in shell_lines(page.read_text(encoding="utf-8"))
            for words in simple_commands(line)]


COMMAND_LINES = documented()


def _ids(items: list[tuple[str, list[str]]]) -> list[str]:
    return [f"{page}: {' '.join(words)}"[:90] for page, words in items]


def test_the_pages_show_commands() -> None:
    mnist_flow = [w for _, w in COMMAND_LINES if Path(w[0]).name == "mnist-flow"]
    assert len(mnist_flow) >= 15
    assert {w[1] for w in mnist_flow if len(w) > 1} >= {"explain", "history", "predict",
                                                         "sweep", "serve", "production"}


FENCES = [(page.name, page.read_text(encoding="utf-8")[:match.start()].count("\n") + 1,
           match.group(1)) for page in PAGES
          for match in FENCE.finditer(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(("page", "line", "language"), FENCES,
                         ids=[f"{page}:{line}" for page, line, _ in FENCES])
def test_every_block_says_whether_it_is_run(page: str, line: int, language: str) -> None:
    assert language in LANGUAGES, (
        f"{page}, line {line}: a ```{language} block; mark commands to run ```{SHELL} (they are "
        f"checked) and output or illustrations ```text")


@pytest.mark.parametrize(("page", "words"), COMMAND_LINES, ids=_ids(COMMAND_LINES))
def test_every_documented_command_exists(page: str, words: list[str], tmp_path: Path) -> None:
    program = Path(words[0]).name
    if program == "mnist-flow":
        check_mnist_flow(words[1:], tmp_path)
    elif program == "prefect":
        check_prefect(words[1:])
    elif program in ("python", "pip") or words[0].endswith(("/python", "/pip")):
        check_python(words[1:])
    elif program == "pytest":
        check_pytest(words[1:])
    else:
        assert program in NOT_OURS, f"{page}: unknown command {words}; check it or list it"


def check_mnist_flow(argv: list[str], tmp_path: Path) -> None:
    unknown = [w for w in argv if "$" in w and w not in SHELL_VALUES]
    assert not unknown, f"add a value for {unknown} to SHELL_VALUES"
    argv = [SHELL_VALUES.get(w, w) for w in argv]
    if "--help" in argv or "-h" in argv:
        assert not argv[:1] or argv[0].startswith("-") or argv[0] in COMMANDS
        return
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        pytest.fail(f"`mnist-flow {' '.join(argv)}` does not parse (exit {exit_.code})")
    try:
        validate_values(args, tmp_path / "artifacts")
    except MnistFlowError as error:
        pytest.fail(f"`mnist-flow {' '.join(argv)}` is refused: error: {error}")
    if args.command in CHEAP:
        assert main([*argv, "--artifacts-dir", str(tmp_path)]) == 0


def validate_values(args: argparse.Namespace, artifacts: Path) -> None:
    """What the subcommand checks before any work: the configuration the options make (the
    artifacts folder moved to ``artifacts``, so a page's ``/tmp/measure`` is not created)."""
    if hasattr(args, "artifacts_dir"):
        args.artifacts_dir = artifacts
    if args.command in ("run", "explain", "serve"):
        from flows.options import config_from_args

        config_from_args(args)
    if args.command == "serve":
        from flows.options import given, validate
        from flows.serve import cron_schedule
        from tasks.config import ServeOptions

        options = validate(ServeOptions, given(args, ServeOptions))
        cron_schedule(options.cron, options.timezone)
    if args.command == "sweep":
        from flows.sweep_flow import config_from_args as sweep_config_from_args

        sweep_config_from_args(args)


@pytest.mark.parametrize("argv", [
    ["--preset", "fast", "--steps", "10"],        # Adam counts epochs: refused by the command
    ["explain", "--lr", "0"],                     # out of range
    ["--presett", "fast"],                        # no such option
    ["serve", "--cron", "every sunday"],          # not a cron expression
    ["sweep", "--grid", "lr=0.001", "hidden=0"],  # a point that is no valid training
])
def test_a_page_showing_a_refused_command_fails(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception):
        check_mnist_flow(argv, tmp_path)


_PREFECT_HELP: dict[tuple[str, ...], str] = {}


def check_prefect(argv: list[str]) -> None:
    words = tuple(w for w in argv[:2] if re.fullmatch(r"[a-z][a-z-]*", w))
    if words not in _PREFECT_HELP:
        done = subprocess.run([sys.executable, "-m", "prefect", *words, "--help"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"`prefect {' '.join(words)}` is no Prefect command"
        _PREFECT_HELP[words] = done.stdout
    for option in (w.split("=")[0] for w in argv if w.startswith("--")):
        assert option in _PREFECT_HELP[words], f"`prefect {' '.join(words)}` has no {option}"


def check_python(argv: list[str]) -> None:
    if argv[:2] == ["-m", "pytest"]:
        check_pytest(argv[2:])
    elif argv[:2] == ["-m", "pip"] or argv[:1] == ["install"]:
        extras = pyproject()["project"]["optional-dependencies"]
        for group in re.findall(r"\[([\w,]+)\]", " ".join(argv)):
            assert set(group.split(",")) <= set(extras), f"no extra [{group}]"
    elif argv and argv[0].endswith(".py"):
        assert (REPO_ROOT / argv[0]).is_file(), f"{argv[0]} does not exist"
    elif argv[:1] != ["-m"]:
        pytest.fail(f"unexpected python command: {argv}")


def check_pytest(argv: list[str]) -> None:
    markers = {m.split(":")[0] for m in pyproject()["tool"]["pytest"]["ini_options"]["markers"]}
    for index, word in enumerate(argv):
        if argv[index - 1] == "-m" and index:
            assert set(re.findall(r"\w+", word)) - {"not", "and", "or"} <= markers, word
        elif not word.startswith("-"):
            assert (REPO_ROOT / word).exists(), f"{word} does not exist"


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_console_script_is_declared() -> None:
    assert pyproject()["project"]["scripts"] == {"mnist-flow": "flows.cli:main"}


INLINE_SPANS = [(page.name, span) for page in PAGES
                for span in INLINE.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(("page", "span"), INLINE_SPANS,
                         ids=[f"{p}: {s}"[:90] for p, s in INLINE_SPANS])
def test_every_command_named_in_the_prose_exists(page: str, span: str) -> None:
    words = span.split()[1:]
    name = words[0] if words and words[0] in COMMANDS else "run"
    assert not words or words[0].startswith("-") or words[0] in COMMANDS or \
        words[0] == "COMMAND", f"{page}: `{span}` names no subcommand"
    options = {o for action in subcommand_parser(name)._actions for o in action.option_strings}
    for option in re.findall(r"(?<![\w-])--?[a-z][\w-]*", span):
        assert option in options, f"{page}: `{span}`: mnist-flow {name} has no {option}"


BENCH_SPAN = re.compile(r"`python (bench/\w+\.py)([^`]*)`")
BENCH_SPANS = [(page.name, script, rest) for page in PAGES
               for script, rest in BENCH_SPAN.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(("page", "script", "rest"), BENCH_SPANS,
                         ids=[f"{p}: {s}{r}"[:90] for p, s, r in BENCH_SPANS])
def test_every_benchmark_named_in_the_prose_exists(page: str, script: str, rest: str) -> None:
    """A number is quoted beside the command that printed it: that command must still exist."""
    source = REPO_ROOT / script
    assert source.is_file(), f"{page}: `python {script}` does not exist"
    text = source.read_text(encoding="utf-8")
    for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", rest):
        assert f'"{option}"' in text, f"{page}: `python {script}` has no {option}"


LAYOUT_PACKAGES = ("flows/", "tasks/", "tasks/stages/", "tasks/engine/", "tasks/core/",
                   "tasks/serving/")
LAYOUT_INDENT = 14  # where the README's Layout block starts its second column


def layout_listing() -> dict[str, list[str]]:
    """The README's Layout block: for each folder, the names its lists give. A line's text
    from column 14 up to two spaces is a ``·``-separated list whose entries begin with a
    module name (``cli.py (the command)``, ``download``); text further right is prose."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = FENCE.search(readme.split("\n## Layout\n", 1)[1]).group(2)
    listing: dict[str, list[str]] = {}
    folder = ""
    for line in block.splitlines():
        if line[:1].strip():
            folder = line.split()[0]
            listing[folder] = []
        column = line[LAYOUT_INDENT:]
        if column[:1].strip():
            entries = re.split(r"\s{2,}", column)[0].split(" · ")
            listing[folder] += [entry.split()[0].removesuffix(".py") for entry in entries]
    return listing


@pytest.mark.parametrize("folder", LAYOUT_PACKAGES)
def test_the_layout_names_every_module_and_no_other(folder: str) -> None:
    listed = layout_listing()[folder]
    modules = {path.stem for path in (REPO_ROOT / folder).glob("*.py")} - {"__init__"}
    missing, stale = sorted(modules - set(listed)), sorted(set(listed) - modules)
    assert not missing, f"README's Layout does not name {folder} {missing}"
    assert not stale, f"README's Layout names {folder} {stale}, which do not exist"
