"""The run of the issue that started the worker-failure work: ``assets = "remote"`` with a process pool, and a
published ``_VV.tif`` answering 404. Building that item raises NotARasterError in a worker, which once
could not be unpickled and broke the pool (the run died with a traceback and no summary); now it is the
failure of that item, named, and the other job lands."""

from __future__ import annotations

from pathlib import Path

import pystac

from harvester import pipeline
from tests.adapters.hyp3.conftest import Hyp3Server, hyp3_config

MISSING_GRANULE = "S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E"
OTHER_GRANULE = "S1B_IW_GRDH_1SDV_20200731T154823_20200731T154848_022712_02B1B9_3F0A"


def _rtc(name: str, granule: str) -> dict[str, object]:
    return {"name": name, "job_type": "RTC_GAMMA", "job_parameters": {"granules": [granule]}}


def test_a_published_cog_that_answers_404_fails_its_item_in_a_process_pool(hyp3: Hyp3Server, tmp_path: Path) -> None:
    hyp3.faults.add(r"20210214T154837.*_VV\.tif$", status=404, times=1000)
    root = tmp_path / "cat"
    config = hyp3_config(root, hyp3.url, jobs=[_rtc("gone", MISSING_GRANULE), _rtc("there", OTHER_GRANULE)],
                         assets="remote", run={"executor": "process", "workers": 2})
    summary = pipeline.run(config)

    jobs = {job.name: job.job_id for job in hyp3.sim.jobs.values()}
    gone = "S1A_IW_20210214T154837_DVP_RTC30_G_gpuned_9F08"
    assert [(f.job, f.item, f.error) for f in summary.failures] == [
        (jobs["gone"], gone,
         f"{hyp3.url}/files/{jobs['gone']}/{gone}_VV.tif: not a readable raster (HTTP response code: 404)")]
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    assert [item.id for item in catalog.get_items(recursive=True)] == ["S1B_IW_20200731T154823_DVP_RTC30_G_gpuned_2E9F"]
    assert summary.jobs_harvested == 1
