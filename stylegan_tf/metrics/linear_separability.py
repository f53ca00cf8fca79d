"""Linear separability (Karras et al. 2019, section 4.2), as the original's `ls` metric.

Images z -> w -> synthesis (random noise, untruncated), box-downsampled to 256, are labelled by
40 binary CelebA-HQ attribute classifiers (`celebahq-classifier-NN-<attribute>.pkl`, the
original's networks, loaded through stylegan_tf.legacy); a logit l gives probabilities
softmax([l, -l]). Per attribute, the `num_keep` most confident samples train a linear SVM
(`sklearn.svm.LinearSVC` with the defaults of its 2019 versions) on z and on w (the last
layer's dlatent); the conditional entropy H(attribute | SVM prediction) in bits is summed over
attributes, and the scores are 2^sum for z (`ls_z`) and w (`ls_w`).
"""
import math
import pathlib
import warnings

import numpy as np
import sklearn.exceptions
import sklearn.svm
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf.metrics import evaluation, reporting

ATTRIBUTES = (
    "male", "smiling", "attractive", "wavy-hair", "young", "5-o-clock-shadow", "arched-eyebrows",
    "bags-under-eyes", "bald", "bangs", "big-lips", "big-nose", "black-hair", "blond-hair", "blurry",
    "brown-hair", "bushy-eyebrows", "chubby", "double-chin", "eyeglasses", "goatee", "gray-hair",
    "heavy-makeup", "high-cheekbones", "mouth-slightly-open", "mustache", "narrow-eyes", "no-beard",
    "oval-face", "pale-skin", "pointy-nose", "receding-hairline", "rosy-cheeks", "sideburns",
    "straight-hair", "wearing-earrings", "wearing-hat", "wearing-lipstick", "wearing-necklace",
    "wearing-necktie")
CLASSIFIER_FILES = tuple(f"celebahq-classifier-{index:02d}-{name}.pkl" for index, name in enumerate(ATTRIBUTES))
CLASSIFIER_RESOLUTION = 256


def default_classifier_dir():
    """<download cache>/celebahq-classifiers."""
    from stylegan_tf import downloads
    return downloads.cache_dir() / "celebahq-classifiers"


def load_classifiers(classifier_dir, attribute_indices):
    """Loads the original attribute classifiers (single-network pickles) through our loader.

    Args:
        classifier_dir: folder holding the `celebahq-classifier-NN-*.pkl` files.
        attribute_indices: which of the 40 attributes.

    Returns:
        list of networks callable as `net(images NHWC in [-1, 1], None) -> logits [N, 1]`.

    Raises:
        FileNotFoundError: naming every missing file and where to get it.
    """
    from stylegan_tf import legacy

    classifier_dir = pathlib.Path(classifier_dir)
    paths = [classifier_dir / CLASSIFIER_FILES[index] for index in attribute_indices]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"linear separability needs the original StyleGAN attribute classifiers; missing in "
            f"{classifier_dir}: {', '.join(missing)}. They are in the 'metrics' folder of the original "
            f"StyleGAN release (see its README; StyleGAN2-ADA's TF release lists copies under "
            f"https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada/pretrained/metrics/). Put them in that "
            f"folder or pass --classifier_dir.")
    return [legacy.load_network(path, "classifier") for path in paths]


def _joint_probabilities(joint):
    joint = np.asarray(joint, dtype=np.float32)
    return joint / np.sum(joint)


def entropy(joint):
    """Entropy in bits of a (joint) probability table, zero cells skipped."""
    joint = _joint_probabilities(joint)
    terms = [-p * np.log2(p) for p in joint.flat if p > 0]
    return float(sum(float(term) for term in terms))


def mutual_information(joint):
    """I(X; Y) in bits of a joint table P[x, y]."""
    joint = _joint_probabilities(joint)
    p_x, p_y = joint.sum(axis=1), joint.sum(axis=0)
    total = 0.0
    for x in range(joint.shape[0]):
        for y in range(joint.shape[1]):
            if joint[x, y] > 0:
                total += float(joint[x, y] * np.log2(joint[x, y] / (p_x[x] * p_y[y])))
    return total


def conditional_entropy(joint):
    """H(Y | X) in bits of a joint table P[x, y]; rounding can dip below 0, which is clipped."""
    joint = _joint_probabilities(joint)
    return max(0.0, entropy(joint.sum(axis=0, keepdims=True)) - mutual_information(joint))


def separability_entropy(inputs, probabilities, num_keep):
    """H(attribute | linear SVM prediction) for one attribute and one latent space.

    Args:
        inputs: [N, D] latents (z or w).
        probabilities: [N, 2] classifier probabilities.
        num_keep: how many of the most confident samples to use.
    """
    confidence = np.max(probabilities, axis=1)
    kept = np.argsort(-confidence, kind="stable")[:num_keep]
    targets = np.argmax(probabilities[kept], axis=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            # The defaults of the scikit-learn the original ran (0.2x): the dual solver, 1000 iterations
            # (newer versions default to dual='auto', which picks the primal for N > D).
            svm = sklearn.svm.LinearSVC(dual=True, max_iter=1000)
            svm.fit(inputs[kept], targets)
            predictions = svm.predict(inputs[kept])
    except ValueError:
        # Single-class targets cannot be fit; the original then counts the prediction as perfect.
        predictions = targets
    joint = [[np.mean((predictions == row) & (targets == col)) for col in (0, 1)] for row in (0, 1)]
    return conditional_entropy(joint)


class LS:
    """The `ls` metric.

    Args:
        name: metric name.
        num_samples: generated samples (rounded up to whole batches; the first num_samples count).
        num_keep: most confident samples kept per attribute.
        attribute_indices: attributes to use (indices into ATTRIBUTES).
        minibatch_per_gpu: batch per GPU.
        classifiers: callables `(images, labels) -> logits [N, 1]` to use instead of loading the
            original classifiers (one per attribute index, same order), e.g. for tests.
        classifier_resolution: resolution the classifiers take; larger images are box-downsampled.
    """

    def __init__(self, name, num_samples, num_keep, attribute_indices=range(40), minibatch_per_gpu=4,
                 classifiers=None, classifier_resolution=CLASSIFIER_RESOLUTION):
        if not 0 < num_keep <= num_samples:
            raise ValueError(f"need 0 < num_keep <= num_samples, got {num_keep} and {num_samples}")
        self.name = name
        self.num_samples = int(num_samples)
        self.num_keep = int(num_keep)
        self.attribute_indices = list(attribute_indices)
        self.minibatch_per_gpu = int(minibatch_per_gpu)
        self.classifiers = classifiers
        self.classifier_resolution = classifier_resolution
        if classifiers is not None and len(classifiers) != len(self.attribute_indices):
            raise ValueError(f"got {len(classifiers)} classifiers for {len(self.attribute_indices)} attributes")

    def sample(self, Gs, classifiers, options):
        """(z [N, L], w [N, D], {attribute index: probabilities [N, 2]}) for N = num_samples."""
        minibatch = self.minibatch_per_gpu * options.num_gpus
        rng = tf.random.Generator.from_seed(options.seed)
        tf.random.set_seed(options.seed)  # Gs's own noise draws

        @tf.function(reduce_retracing=True)
        def batch(latents):
            labels = evaluation.zero_labels(Gs, tf.shape(latents)[0])
            dlatents = Gs.mapping(latents, labels)
            images = Gs.synthesis(dlatents, randomize_noise=True)
            images = evaluation.box_downsample(images, self.classifier_resolution)
            probabilities = []
            for classifier in classifiers:
                logits = classifier(images, None)
                probabilities.append(tf.nn.softmax(tf.concat([logits, -logits], axis=1)))
            return dlatents[:, -1], probabilities

        num_batches = math.ceil(self.num_samples / minibatch)
        latents_all, dlatents_all, probabilities_all = [], [], []
        with tqdm(total=num_batches * minibatch, desc=self.name, unit="img", disable=not options.progress,
                  leave=False) as bar:
            for _ in range(num_batches):
                latents = rng.normal([minibatch, Gs.latent_size])
                dlatents, probabilities = batch(latents)
                latents_all.append(latents.numpy())
                dlatents_all.append(dlatents.numpy())
                probabilities_all.append(np.stack([p.numpy() for p in probabilities]))
                bar.update(minibatch)
        count = self.num_samples
        probabilities = np.concatenate(probabilities_all, axis=1)[:, :count]
        return (np.concatenate(latents_all)[:count], np.concatenate(dlatents_all)[:count],
                {index: probabilities[k] for k, index in enumerate(self.attribute_indices)})

    def evaluate(self, Gs, options):
        """Returns [MetricResult ls_z, ls_w]."""
        classifiers = self.classifiers
        if classifiers is None:
            classifiers = load_classifiers(options.classifier_dir or default_classifier_dir(),
                                           self.attribute_indices)
        latents, dlatents, probabilities = self.sample(Gs, classifiers, options)
        entropies = {"z": [], "w": []}
        for index in tqdm(self.attribute_indices, desc=f"{self.name} SVMs", disable=not options.progress,
                          leave=False):
            entropies["z"].append(separability_entropy(latents, probabilities[index], self.num_keep))
            entropies["w"].append(separability_entropy(dlatents, probabilities[index], self.num_keep))
        return [reporting.MetricResult(self.name, "_" + space, 2.0 ** np.sum(values))
                for space, values in entropies.items()]
