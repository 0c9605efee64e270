"""Labels from the Python client and the CLI against the real service: submit with a name,
tags and notes, list by tag and name text across pages (the client follows the cursors),
relabel; bad tags come back as the API's field errors."""

from __future__ import annotations

import uuid

import pytest

from optarena.client import ApiError, Client
from optarena.models import Job, JobPage
from tests.api.dashboard.service import Running
from tests.optarena.test_cli import job_id, optarena

SHORT = {"train": {"steps": 20, "eval_every": 10}}


def test_client_labels_filters_and_cursor_pages(service: Running) -> None:
    tag = f"run-{uuid.uuid4().hex[:8]}"  # the service is shared: this test's jobs only
    with Client(service.url, service.key) as c:
        ids = [c.submit(preset="seed-wave", overrides=SHORT, name=f"Client {n}", tags=[tag, extra],
                        notes=f"job {n}")["id"] for n, extra in (("one", "x"), ("two", "y"), ("three", "x"))]
        page = c.jobs(tag=tag, page_size=1)  # three requests, one job each, newest first
        assert isinstance(page, JobPage) and [j.id for j in page.items] == ids[::-1]
        assert page.total == 3 and page.next_cursor is None
        assert [j.name for j in c.jobs(tag=[tag, "X"], sort="name").items] == ["Client one", "Client three"]
        assert [j.id for j in c.jobs(tag=tag, q="client T", sort="created_at").items] == ids[1:]
        assert [j.id for j in c.jobs(tag=tag, limit=2, page_size=1).items] == ids[:0:-1]

        job = c.update_job(ids[0], tags=["kept", tag])
        assert isinstance(job, Job)
        assert (job.name, job.tags, job.notes) == ("Client one", ["kept", tag], "job one")
        assert c.update_job(ids[0], name=None).name is None and c.job(ids[0]).tags == ["kept", tag]
        with pytest.raises(ApiError) as bad:
            c.update_job(ids[0], tags=["fine", "not fine"])
        assert bad.value.status == 422 and [e["field"] for e in bad.value.detail] == ["tags.1"]


def test_cli_submits_labels_and_lists_by_tag_and_name(service: Running) -> None:
    tag = f"cli-{uuid.uuid4().hex[:8]}"
    done = optarena(service, "submit", "--preset", "seed-wave", "--steps", "20", "--name", "CLI labelled [x]",
                    "--tag", tag, "--tag", "Second", "--notes", "from the command line")
    assert done.returncode == 0, done.stderr
    jid = job_id(done.stdout)
    listed = optarena(service, "jobs", "--tag", tag, "--tag", "second", "--q", "labelled")
    assert listed.returncode == 0, listed.stderr
    assert jid in listed.stdout and "CLI labelled [x]" in listed.stdout and "1 in all" in listed.stdout
    assert "0 in all" in optarena(service, "jobs", "--tag", tag, "--q", "nothing like it").stdout
    refused = optarena(service, "jobs", "--tag", "two words")
    assert refused.returncode == 1 and "tag.0: " in refused.stderr and "letters, digits" in refused.stderr
    with Client(service.url, service.key) as c:
        assert (c.job(jid).tags, c.job(jid).notes) == ([tag, "second"], "from the command line")
