"""E-mail: every message is saved in ``sys_mail_outbox`` and sent by a job.

With ``TRELLIS_SMTP_URL`` (``smtp://user:password@host:587``, ``smtps://`` for TLS)
the job sends it; without, as in development and the demo, the message is only kept
and shown at /admin/mail, so reminders can be read without a mail server.
"""

from __future__ import annotations

import os
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select, update

from runtime.store import system_tables as st

KEPT = "kept"  # development: shown on /admin/mail, not sent
SENT = "sent"
QUEUED = "queued"
FAILED = "failed"


class Mailer:
    def __init__(self, runtime: Any, queue: Any):
        self.runtime = runtime
        self.queue = queue

    def send(self, to: str, subject: str, body: str) -> int:
        """Save the message and enqueue its sending; the message id."""
        to, subject = (to or "").strip(), (subject or "").strip()
        if "@" not in to:
            raise ValueError(f"mail 'to': {to!r} is not an e-mail address")
        if not subject:
            raise ValueError("mail 'subject': a message needs a subject")
        with self.runtime.db.engine.begin() as conn:
            mail_id = conn.execute(
                st.mail_outbox.insert().values(
                    to_address=to[:320], subject=subject[:255], body=(body or "")[:20000],
                    created_at=datetime.now(UTC), state=QUEUED,
                )
            ).inserted_primary_key[0]  # fmt: skip
        self.queue.send_mail_later(int(mail_id))
        return int(mail_id)

    def deliver(self, mail_id: int) -> str:
        """The job: send (or keep) one message; its new state."""
        table = st.mail_outbox
        with self.runtime.db.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == int(mail_id))).first()
        if row is None or row.state in (SENT, KEPT):
            return row.state if row is not None else "missing"
        url = os.environ.get("TRELLIS_SMTP_URL", "")
        state, error = KEPT, None
        if url:
            try:
                _smtp_send(url, row.to_address, row.subject, row.body)
                state = SENT
            except Exception as exc:
                self._set(int(mail_id), FAILED, f"{type(exc).__name__}: {exc}"[:2000])
                raise  # retried by the queue
        self._set(int(mail_id), state, error)
        return state

    def _set(self, mail_id: int, state: str, error: str | None) -> None:
        table = st.mail_outbox
        sent_at = datetime.now(UTC) if state in (SENT, KEPT) else None
        with self.runtime.db.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == mail_id)
                .values(state=state, error=error, sent_at=sent_at)
            )

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        table = st.mail_outbox
        with self.runtime.db.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]


def _smtp_send(url: str, to: str, subject: str, body: str) -> None:
    parts = urlsplit(url)
    sender = os.environ.get("TRELLIS_MAIL_FROM") or f"trellis@{parts.hostname or 'localhost'}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body)
    port = parts.port or (465 if parts.scheme == "smtps" else 587)
    client = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with client(parts.hostname or "localhost", port, timeout=30) as smtp:
        if parts.scheme == "smtp" and port != 25:
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


__all__ = ["Mailer"]
