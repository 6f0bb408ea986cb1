"""The Slack edge: listeners and Block Kit builders. ``register`` composes the modules."""

from __future__ import annotations

from slack_bolt import App

from handlers.context import AppContext


def register(app: App, ctx: AppContext) -> None:
    from handlers import commands, cost, decisions, digest, drafts, errors, home, questions

    errors.register(app, ctx)
    commands.register(app, ctx)
    questions.register(app, ctx)
    decisions.register(app, ctx)
    cost.register(app, ctx)
    home.register(app, ctx)
    drafts.register(app, ctx)
    digest.register(app, ctx)
