"""Wire shape of a backfill job."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from sharelinks.backfill.service import Job
from sharelinks.http.dates import rfc3339


def job_response(job: Job, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "program_label": job.program_label,
        "status": job.status,
        "counts": {
            "read": job.rows_read,
            "succeeded": job.succeeded,
            "rejected": job.rejected,
            "links_created": job.links_created,
            "links_reused": job.links_reused,
        },
        "push_webhook_id": str(job.push_webhook_id) if job.push_webhook_id else None,
        "fire_webhooks": job.fire_webhooks,
        "error": job.error,
        "results_url": f"/v6/batches/{job.id}/results" if job.status == "done" else None,
        "rejects_url": f"/v6/batches/{job.id}/rejects" if job.status == "done" else None,
        "created_date": rfc3339(job.created_at, zone),
        "updated_date": rfc3339(job.updated_at, zone),
        "finished_date": rfc3339(job.finished_at, zone) if job.finished_at else None,
    }
