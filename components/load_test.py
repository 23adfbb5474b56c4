"""load_test: `python -m serving.load_test` (Locust, headless) against the served model; the HTML report and
CSVs land in <run dir>/load_test. Runs after serve when run_load_test == 'true'. Returns the report's path; outputs
the report as an HTML artifact (components/artifacts.py)."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def load_test(run_dir: str, server_url: str, model_name: str, users: int, run_time: str,
              report: dsl.Output[dsl.HTML]) -> str:
    import os

    from components import _runtime as rt, artifacts, rundir

    serve_info = rundir.read_step(run_dir, "serve", {})
    out = rundir.output_dir(run_dir, "load_test")
    rt.run_cli("load_test", run_dir, ["-m", "serving.load_test", "--host", server_url, "--vocab",
                                      serve_info["vocab_path"], "--out", out, "--users", users,
                                      "--run_time", run_time, "--model_name", model_name])
    rt.record_step(run_dir, "load_test", report_path=os.path.join(out, "report.html"), out_dir=out)
    artifacts.html_report(report, os.path.join(out, "report.html"))
    return os.path.join(out, "report.html")
