# The "app" image: TF 2.21 (CPU), kfp 2.17.0, Apache Beam, Flask/gunicorn, the model server, Locust: it runs the
# pipeline's app steps (init_run, preprocess, serve, webapp, load_test, finalize) and the web app's
# Deployment. Build from the repository root:
#   docker build -f dockerfiles/app.Dockerfile -t ghcr.io/ghsumm/ghsumm-app:0.1.0 .
# KFP's Python components run `python3 -m kfp.dsl.executor_main` (compiled with install_kfp_package=False): the
# venv is first on PATH, so python3 is this environment, with kfp and the project installed.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2 \
    VIRTUAL_ENV=/opt/venv/app PATH=/opt/venv/app/bin:$PATH PYTHONPATH=/opt/ghsumm
WORKDIR /opt/ghsumm

# Dependencies first (a layer that changes only with the pins), the same pins and order as `make`.
COPY requirements/ requirements/
RUN python -m venv /opt/venv/app \
 && pip install --upgrade pip \
 && pip install -r requirements/app.txt \
 && pip install --no-deps -r requirements/app-nodeps.txt

COPY setup.py ./
COPY data/ data/
COPY trainer/ trainer/
COPY serving/ serving/
COPY webapp/ webapp/
COPY components/ components/
COPY pipeline/ pipeline/
RUN pip install --no-deps -e . && python -c "import kfp, components, pipeline.gh_summ, serving.model_server"

# No default server: the pipeline's components give their own command; the web app's Deployment runs gunicorn.
EXPOSE 8080 8500 8501
CMD ["python3", "-m", "pipeline", "--help"]
