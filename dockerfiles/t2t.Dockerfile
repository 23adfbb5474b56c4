# The "t2t" image: the app image plus the t2t environment (TF 2.15.1 + tensor2tensor 1.15.7, with the CUDA
# libraries TF 2.15 takes from pip for GPU nodes). It runs copy_checkpoint, train, export and evaluate (which
# exports the model a run started from). As locally, the component itself runs in the app environment (kfp needs
# protobuf >= 6.31, which TF 2.15 cannot load) and calls `python -m trainer ...` with the t2t interpreter, found
# through GHSUMM_T2T_PYTHON.
# Build from the repository root, after the app image:
#   docker build -f dockerfiles/t2t.Dockerfile --build-arg APP_IMAGE=ghcr.io/ghsumm/ghsumm-app:0.1.0 \
#       -t ghcr.io/ghsumm/ghsumm-t2t:0.1.0 .
ARG APP_IMAGE=ghcr.io/ghsumm/ghsumm-app:0.1.0
FROM ${APP_IMAGE}

ENV GHSUMM_T2T_PYTHON=/opt/venv/t2t/bin/python
COPY requirements/t2t.txt requirements/t2t-nodeps.txt requirements/
RUN python -m venv /opt/venv/t2t \
 && /opt/venv/t2t/bin/pip install --upgrade pip \
 && /opt/venv/t2t/bin/pip install -r requirements/t2t.txt \
 && /opt/venv/t2t/bin/pip install "tensorflow[and-cuda]==2.15.1" \
 && /opt/venv/t2t/bin/pip install --no-deps -r requirements/t2t-nodeps.txt \
 && /opt/venv/t2t/bin/pip install --no-deps -e . \
 && /opt/venv/t2t/bin/python -c "import trainer.compat"

CMD ["/opt/venv/t2t/bin/python", "-m", "trainer", "--help"]
