"""Job lists are checked whole before anything is sent, and split into requests of at most 200."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.errors import RequestRejectedError
from adapters.hyp3.jobs import MAX_JOBS_PER_REQUEST, batches, load_jobs, validate_jobs
from adapters.hyp3.jobs import API_EXAMPLES

RTC = {"job_type": "RTC_GAMMA",
       "job_parameters": {"granules": ["S1A_IW_GRDH_1SDV_20210214T154837_20210214T154901_036588_044C54_032E"]}}


def test_every_example_of_the_api_page_is_accepted() -> None:
    checked = validate_jobs(API_EXAMPLES)
    assert {job["job_type"] for job in checked} == {
        "RTC_GAMMA", "INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST", "AUTORIFT", "ARIA_S1_GUNW",
        "OPERA_RTC_S1"}


def test_jobs_without_a_name_get_the_default_name() -> None:
    checked = validate_jobs({"jobs": [RTC, {**RTC, "name": "mine"}]}, default_name="svalbard-rtc")
    assert [job["name"] for job in checked] == ["svalbard-rtc", "mine"]


@pytest.mark.parametrize("job, message", [
    ({"job_type": "RTC_GAMA", "job_parameters": {}}, "job 1: job_type 'RTC_GAMA' is not one of RTC_GAMMA"),
    ({"job_type": "RTC_GAMMA"}, "job 1: job_parameters must be a table"),
    ({"job_type": "RTC_GAMMA", "job_parameters": {}}, "RTC_GAMMA needs job_parameters.granules"),
    ({**RTC, "job_parameters": {**RTC["job_parameters"], "resolution": 15}},
     "job_parameters.resolution must be one of 10, 20, 30, not 15"),
    ({**RTC, "job_parameters": {**RTC["job_parameters"], "radiometry": "beta0"}}, "radiometry must be one of"),
    ({**RTC, "job_parameters": {**RTC["job_parameters"], "colour": True}},
     "job_parameters.colour is not a RTC_GAMMA parameter"),
    ({**RTC, "job_parameters": {"granules": ["S1A_IW_GRDH_nonsense"]}}, "a list of 1 Sentinel-1 GRD or SLC scene"),
    ({"job_type": "INSAR_GAMMA", "job_parameters": {"granules": RTC["job_parameters"]["granules"]}},
     "a list of 2 Sentinel-1 SLC scene"),
    ({"job_type": "ARIA_S1_GUNW", "job_parameters": {"reference_date": "2019/12/31", "secondary_date": "2018-12-12",
                                                     "frame_id": 11040}}, "reference_date must be a date YYYY-MM-DD"),
    ({"job_type": "INSAR_ISCE_MULTI_BURST", "job_parameters": {
        "reference": ["S1_136231_IW2_20200604T022312_VV_7C85-BURST", "S1_136232_IW2_20200604T022315_VV_7C85-BURST"],
        "secondary": ["S1_136231_IW2_20200616T022313_VV_5D11-BURST"]}}, "the same number of bursts"),
    ({"job_type": "OPERA_RTC_S1", "job_parameters": {"granules": ["S1_073251_IW2_20200128T020712_VH_2944-BURST"]}},
     "co-polarised"),
    ({**RTC, "name": "x" * 101}, "name must be a string of 1 to 100 characters"),
    ({**RTC, "priority": 1}, "unknown key(s) priority"),
    ("RTC_GAMMA", "a job must be a table"),
])
def test_bad_jobs_are_refused_naming_the_job_and_field(job: Any, message: str) -> None:
    with pytest.raises(RequestRejectedError) as err:
        validate_jobs([job], "jobs.json")
    assert str(err.value).startswith("jobs.json: job 1")
    assert message in str(err.value)


def test_a_bad_job_late_in_the_list_is_named() -> None:
    jobs = [RTC] * 300 + [{"job_type": "NOPE", "job_parameters": {}}]
    with pytest.raises(RequestRejectedError, match="job 301: job_type 'NOPE'"):
        validate_jobs(jobs)


@pytest.mark.parametrize("value", [[], {}, "jobs", None, {"jobs": []}])
def test_empty_or_shapeless_lists_are_refused(value: Any) -> None:
    with pytest.raises(RequestRejectedError, match="a non-empty list of jobs is required"):
        validate_jobs(value)


def test_batches_of_at_most_200_in_order() -> None:
    jobs = [{"i": i} for i in range(450)]
    sizes = [len(b) for b in batches(jobs)]
    assert sizes == [200, 200, 50] and MAX_JOBS_PER_REQUEST == 200
    assert [job["i"] for batch in batches(jobs) for job in batch] == list(range(450))


def test_load_jobs_from_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"jobs": [RTC]}))
    assert load_jobs(path, default_name="src")[0]["name"] == "src"
    path.write_text("{not json")
    with pytest.raises(RequestRejectedError, match="jobs.json: the job list is not valid JSON"):
        load_jobs(path)
    with pytest.raises(RequestRejectedError, match="missing.json: cannot read the job list"):
        load_jobs(tmp_path / "missing.json")
