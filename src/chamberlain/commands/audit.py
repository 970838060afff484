"""``chamberlain audit``: export, verify and prove a tenant's log; erase payloads.

``verify`` and ``prove`` work from files alone, with no database and no server:
an auditor runs them on their own machine with the log's public key they hold.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..audit import NoteError, ProofError, VerifierKey
from ..audit._export import erase_payloads, export_log
from ..audit._verify import Report, verify_export, verify_proof
from ._shared import _settings, _with_runtime, data_dir_option

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
tenant_required = click.option("--tenant", "tenant_id", required=True, help="Tenant whose log it is.")
key_option = click.option(
    "--key",
    "key_text",
    required=True,
    help="The log's verifier key (name+id+key), or a file holding it. Use the copy you trust, not one that came with the files.",
)


@click.group()
def audit() -> None:
    """Export, verify and prove the tamper-evident audit log."""


def _key(text: str) -> VerifierKey:
    path = Path(text)
    try:
        return VerifierKey.parse(path.read_text() if path.is_file() else text)
    except NoteError as err:
        raise click.BadParameter(str(err), param_hint="--key") from err


@audit.command("key")
@tenant_required
@data_dir_option
def audit_key(tenant_id: str, data_dir: Path | None) -> None:
    """Print the log's verifier key, to hand to auditors over a channel they trust."""
    click.echo(str(_with_runtime(_settings(data_dir), lambda rt: rt.audit.verifier(tenant_id))))


@audit.command("checkpoint")
@tenant_required
@data_dir_option
def audit_checkpoint(tenant_id: str, data_dir: Path | None) -> None:
    """Sign (if the log grew) and print the newest checkpoint."""
    click.echo(_with_runtime(_settings(data_dir), lambda rt: rt.audit.checkpoint(tenant_id)).note, nl=False)


@audit.command("export")
@tenant_required
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@data_dir_option
def audit_export(tenant_id: str, out: Path, data_dir: Path | None) -> None:
    """Write the log, its checkpoints, payloads and key to a folder for `audit verify`."""

    def progress(done: int, total: int) -> None:
        click.echo(f"\r{done}/{total} entries", nl=False, err=True)

    summary = _with_runtime(_settings(data_dir), lambda rt: export_log(rt.audit, tenant_id, out, progress=progress))
    click.echo("", err=True)
    click.echo(f"exported {summary['entries']} entries and {summary['payloads']} payloads of {tenant_id} to {out}")


@audit.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@key_option
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=_FILE,
    help="A checkpoint you hold (e.g. from the gateway's audit folder or an earlier fetch) [default: FOLDER/checkpoint].",
)
@click.option(
    "--since",
    "since",
    type=_FILE,
    help="An older checkpoint you hold: the export must extend it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_verify(folder: Path, key_text: str, checkpoint_path: Path | None, since: Path | None, as_json: bool) -> None:
    """Check an exported log offline; exit 1 on any tampering, naming the first bad entry."""
    key = _key(key_text)
    checkpoint_file = checkpoint_path or folder / "checkpoint"
    if not checkpoint_file.is_file():
        raise click.UsageError(f"no checkpoint at {checkpoint_file}: pass the one you hold with --checkpoint")
    note = checkpoint_file.read_text()
    started = time.perf_counter()
    try:
        also = [since.read_text()] if since is not None else []
        report = verify_export(folder, key, note, also=also, progress=lambda n: click.echo(f"\r{n} entries", nl=False, err=True))
    except NoteError as err:
        raise click.ClickException(f"the checkpoint is not genuine: {err}") from err
    _print_report(report, time.perf_counter() - started, as_json)
    if not report.ok:
        sys.exit(1)


def _print_report(report: Report, seconds: float, as_json: bool) -> None:
    if as_json:
        body: dict[str, Any] = {
            "ok": report.ok,
            "tenant": report.tenant,
            "entries": report.entries,
            "checkpoint_size": report.checkpoint.size,
            "checkpoints_checked": report.checkpoints,
            "payloads_checked": report.payloads,
            "first_bad_entry": report.first_bad,
            "problems": [{"entry": p, "problem": w} for p, w in report.problems],
            "seconds": round(seconds, 3),
        }
        click.echo(json.dumps(body, indent=2))
        return
    click.echo("", err=True)
    if report.ok:
        click.echo(
            f"OK: {report.entries} entries of {report.checkpoint.origin} match the checkpoint of size"
            f" {report.checkpoint.size} signed at {report.checkpoint.time}; {report.checkpoints} signed checkpoints"
            f" and {report.payloads} payloads checked ({seconds:.1f}s)"
        )
        return
    first = report.first_bad
    click.echo(f"TAMPERED: {report.checkpoint.origin}" + (f", first bad entry: {first}" if first is not None else ""))
    for _, what in report.problems:
        click.echo(f"  - {what}")


@audit.command("prove")
@click.argument("proof_file", type=_FILE)
@key_option
@click.option(
    "--old",
    "old",
    type=_FILE,
    help="For a consistency proof: the older checkpoint you hold.",
)
def audit_prove(proof_file: Path, key_text: str, old: Path | None) -> None:
    """Check one proof saved from the API (an entry's inclusion, or consistency); exit 1 if it fails."""
    key = _key(key_text)
    try:
        document = json.loads(proof_file.read_text())
        if not isinstance(document, dict):
            raise ProofError("the file is not a proof object (save the JSON the API returned)")
        click.echo("OK: " + verify_proof(document, key, old.read_text() if old else None))
    except (ProofError, NoteError, json.JSONDecodeError) as err:
        click.echo(f"FAILED: {err}")
        sys.exit(1)


@audit.command("erase")
@tenant_required
@click.option("--call", "call_ids", multiple=True, help="A call whose payloads to erase (repeatable).")
@click.option("--on-behalf-of", "subject", default=None, help="Erase the payloads of every call made on behalf of this subject.")
@click.option("--reason", required=True, help="Why (a deletion request's reference); kept in the log's own payload store.")
@click.option("--by", "by", default="operator:cli", show_default=True, help="Who erases, as written in the log.")
@data_dir_option
def audit_erase(
    tenant_id: str, call_ids: tuple[str, ...], subject: str | None, reason: str, by: str, data_dir: Path | None
) -> None:
    """Erase stored arguments and results of calls; the log itself stays whole and verifiable."""
    if not call_ids and subject is None:
        raise click.UsageError("name calls with --call or a subject with --on-behalf-of")
    result = _with_runtime(
        _settings(data_dir),
        lambda rt: erase_payloads(rt.store, tenant_id, call_ids=list(call_ids), on_behalf_of=subject, reason=reason, by=by),
    )
    if result["index"] is None:
        click.echo("no calls matched; nothing erased")
        return
    click.echo(f"erased the payloads of {len(result['entries'])} entries; the erasure is entry {result['index']}")
    if result["approvals_kept"]:
        click.echo(f"{result['approvals_kept']} approval(s) still open keep their arguments until they close; erase again then")
