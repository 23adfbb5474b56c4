"""ghsumm: learn to write a GitHub issue's title from its body (a runnable re-creation of Kubeflow's gh_summ)."""
from setuptools import find_packages, setup

setup(
    name="ghsumm",
    version="0.1.0",
    description="GitHub issue title generation: Beam preprocessing, tensor2tensor training, "
                "TF-Serving-protocol serving, a web app and a Kubeflow pipeline",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["data", "data.*", "trainer", "trainer.*", "serving", "serving.*",
                                    "webapp", "webapp.*", "components", "components.*",
                                    "pipeline", "pipeline.*"]),
    package_data={"webapp": ["templates/*.html", "static/*"]},
    license="Apache-2.0",
)
