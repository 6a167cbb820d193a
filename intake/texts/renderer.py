"""Renders a template of the catalogue: the operator's folder first, the shipped set as fallback.

The sandboxed environment keeps a mistyped or hostile template from reaching Python objects.
Each template is read once per process: an edited file takes effect at the next start.
A template sets its e-mail subject with `{% set subject = "…" %}`; `<name>.html.j2`, when it
exists, gives the HTML part. SMS providers that need approved templates get a code and the
parameters from `sms_codes.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

SHIPPED = Path(__file__).parent
SMS_CODES = "sms_codes.yaml"


@dataclass(frozen=True)
class Rendered:
    text: str
    subject: str | None = None
    html: str | None = None
    provider_template: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


class Renderer:
    """Renders `name` in `lang` (falling back to Chinese, the hotline's working language)."""

    def __init__(self, *, override: Path | None = None, default_lang: str = "zh") -> None:
        self.default_lang = default_lang
        self._envs: dict[str, SandboxedEnvironment] = {}
        self._override = override
        codes_file = (override / SMS_CODES) if override else None
        source = codes_file if codes_file and codes_file.exists() else SHIPPED / SMS_CODES
        self.sms_codes: dict[str, dict[str, Any]] = yaml.safe_load(source.read_text("utf-8"))

    def _env(self, lang: str) -> SandboxedEnvironment:
        if lang not in self._envs:
            folders = [SHIPPED / lang, SHIPPED / self.default_lang]
            if self._override:
                folders[:0] = [self._override / lang, self._override / self.default_lang]
            self._envs[lang] = SandboxedEnvironment(
                loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
                autoescape=lambda name: bool(name and name.endswith(".html.j2")),
                undefined=StrictUndefined,
                keep_trailing_newline=False,
                auto_reload=False,  # read once per process: no file check on every message
            )
        return self._envs[lang]

    def render(self, name: str, context: dict[str, Any], *, lang: str | None = None) -> Rendered:
        env = self._env(lang or self.default_lang)
        module = env.get_template(f"{name}.j2").make_module(context)
        subject = getattr(module, "subject", None)
        html = self._html(env, name, context)
        code = self.sms_codes.get(name) or {}
        params = {p: str(context.get(p, "")) for p in code.get("params", [])}
        return Rendered(
            text=str(module).strip(),
            subject=str(subject) if subject else None,
            html=html,
            provider_template=code.get("code"),
            params=params,
        )

    def text(self, name: str, context: dict[str, Any], *, lang: str | None = None) -> str:
        """Only the text (a bot's reply has no subject, HTML part or provider code)."""
        env = self._env(lang or self.default_lang)
        return str(env.get_template(f"{name}.j2").make_module(context)).strip()

    @staticmethod
    def _html(env: SandboxedEnvironment, name: str, context: dict[str, Any]) -> str | None:
        if not context.get("links"):
            return None
        try:
            return env.get_template(f"{name}.html.j2").render(context)
        except TemplateNotFound:
            return None
