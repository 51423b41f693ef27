"""A PyTorch statement of the reference's training step and of MobileFaceNet, for tests only.

Written from the reference spec (section c, "One step, in order", and the Face-ID paragraph), with the
networks of `tests/reference/torch_reference.py`. Term names are keras-p2c's metric names, so a test
compares the two steps term by term.
"""

import torch
from torch import nn
from torch.nn import functional as F

# --- MobileFaceNet (InsightFace_Pytorch's state-dict names) ------------------------------------------


class FaceConv(nn.Module):
    """Conv (no bias) → BatchNorm → optional per-channel PReLU (the reference's Conv_block / Linear_block)."""

    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, depthwise=False, prelu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=cout if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        if prelu:
            self.prelu = nn.PReLU(cout)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.prelu(x) if hasattr(self, "prelu") else x


class Bottleneck(nn.Module):
    """1×1 expand → depthwise 3×3 → linear 1×1 project (+ input when residual)."""

    def __init__(self, cin, cout, inner, stride=1, residual=False):
        super().__init__()
        self.residual = residual
        self.conv = FaceConv(cin, inner)
        self.conv_dw = FaceConv(inner, inner, 3, stride, 1, depthwise=True)
        self.project = FaceConv(inner, cout, prelu=False)

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Stack(nn.Module):
    def __init__(self, channels, inner, blocks):
        super().__init__()
        self.model = nn.Sequential(*[Bottleneck(channels, channels, inner, residual=True) for _ in range(blocks)])

    def forward(self, x):
        return self.model(x)


class TorchMobileFaceNet(nn.Module):
    """MobileFaceNet(512) with the state-dict keys of `model_mobilefacenet.pth`."""

    def __init__(self, embedding_size=512):
        super().__init__()
        self.conv1 = FaceConv(3, 64, 3, 2, 1)
        self.conv2_dw = FaceConv(64, 64, 3, 1, 1, depthwise=True)
        self.conv_23 = Bottleneck(64, 64, 128, stride=2)
        self.conv_3 = Stack(64, 128, 4)
        self.conv_34 = Bottleneck(64, 128, 256, stride=2)
        self.conv_4 = Stack(128, 256, 6)
        self.conv_45 = Bottleneck(128, 128, 512, stride=2)
        self.conv_5 = Stack(128, 256, 2)
        self.conv_6_sep = FaceConv(128, 512)
        self.conv_6_dw = FaceConv(512, 512, 7, depthwise=True, prelu=False)
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)

    def forward(self, x):
        for name in ("conv1", "conv2_dw", "conv_23", "conv_3", "conv_34", "conv_4", "conv_45", "conv_5"):
            x = getattr(self, name)(x)
        x = self.conv_6_dw(self.conv_6_sep(x))
        x = self.bn(self.linear(x.flatten(1)))
        return x / x.norm(dim=1, keepdim=True)


def calibrated_mobilefacenet(seed=0):
    """A MobileFaceNet whose BatchNorm statistics come from random faces, with random affine terms.

    With the initial statistics every image maps to almost the same embedding; measured ones keep the
    Face-ID term input-dependent, as trained weights do.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = TorchMobileFaceNet()
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.momentum = 1.0  # running statistics = this batch's
    net.train()
    with torch.no_grad():
        net(torch.rand(8, 3, 112, 112, generator=generator) * 2 - 1)
        for norm in norms:
            norm.weight.copy_(torch.rand(norm.weight.shape, generator=generator) * 0.4 + 0.8)
            norm.bias.copy_(torch.rand(norm.bias.shape, generator=generator) * 0.2 - 0.1)
            norm.momentum = 0.1
    return net.eval()


def face_embeddings(net, images):
    """The reference's Face-ID features: its square face crop, 112² align-corners bilinear, MobileFaceNet."""
    height, width = images.shape[2:]
    top = int(height / 2.1 * (0.8 - 0.33))
    bottom = int(height - height / 2.1 * 0.3)
    size = bottom - top
    left = int(width / 2 - size / 2)
    crop = images[:, :, top:bottom, left : left + size]
    return net(F.interpolate(crop, size=[112, 112], mode="bilinear", align_corners=True))


def face_id_distance(net, first, second):
    """Batch mean of 1 − cosine similarity (the reference adds the per-sample values; same at batch 1)."""
    return (1 - torch.cosine_similarity(face_embeddings(net, first), face_embeddings(net, second))).mean()


# --- the training step -------------------------------------------------------------------------------


def _mse(x, target):
    return F.mse_loss(x, torch.full_like(x, target))


def _bce(x, target):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


def reference_optimizers(nets, lr=1e-4):
    """The reference's two Adams: one over both generators, one over the four discriminators."""
    generators = [p for name in ("genA2B", "genB2A") for p in nets[name].parameters()]
    discriminators = [p for name in ("disGA", "disGB", "disLA", "disLB") for p in nets[name].parameters()]
    options = dict(lr=lr, betas=(0.5, 0.999), eps=1e-8, weight_decay=1e-4)
    return torch.optim.Adam(generators, **options), torch.optim.Adam(discriminators, **options)


def _clip_unit_interval(net):
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if name.endswith(("rho", "w_gamma", "w_beta")):
                parameter.clamp_(0, 1)


def training_step(nets, g_optim, d_optim, real_A, real_B, weights, facenet=None):
    """One reference iteration on NCHW batches; returns every term (floats) by keras-p2c metric name.

    Args:
        nets: dict of the six networks (`genA2B`, ..., `disLB`), in train mode.
        g_optim, d_optim: from `reference_optimizers`.
        real_A, real_B: `(N, 3, H, W)` in [-1, 1].
        weights: object with `adv`, `cycle`, `identity`, `cam`, `face_id`.
        facenet: an eval-mode `TorchMobileFaceNet`, or None for no Face-ID term.
    """
    genA2B, genB2A = nets["genA2B"], nets["genB2A"]
    terms = {}

    # Discriminator step (the translations detached: the reference's gradients into the generators
    # are thrown away by the next zero_grad, so this is the same update).
    d_optim.zero_grad()
    with torch.no_grad():
        fake_A2B = genA2B(real_A)[0]
        fake_B2A = genB2A(real_B)[0]
    real = {"GA": real_A, "LA": real_A, "GB": real_B, "LB": real_B}
    fake = {"GA": fake_B2A, "LA": fake_B2A, "GB": fake_A2B, "LB": fake_A2B}
    d_total = 0
    for key in ("GA", "LA", "GB", "LB"):
        real_logit, real_cam, _ = nets["dis" + key](real[key])
        fake_logit, fake_cam, _ = nets["dis" + key](fake[key])
        adv = _mse(real_logit, 1.0) + _mse(fake_logit, 0.0)
        adv_cam = _mse(real_cam, 1.0) + _mse(fake_cam, 0.0)
        terms[f"d_adv_{key}"], terms[f"d_adv_cam_{key}"] = adv, adv_cam
        d_total = d_total + weights.adv * (adv + adv_cam)
    terms["d_loss"] = d_total
    d_total.backward()
    d_optim.step()

    # Generator step, through the updated discriminators.
    g_optim.zero_grad()
    fake_A2B, cam_A2B, _ = genA2B(real_A)
    fake_B2A, cam_B2A, _ = genB2A(real_B)
    fake_A2B2A = genB2A(fake_A2B)[0]
    fake_B2A2B = genA2B(fake_B2A)[0]
    fake_A2A, cam_A2A, _ = genB2A(real_A)
    fake_B2B, cam_B2B, _ = genA2B(real_B)
    fake = {"GA": fake_B2A, "LA": fake_B2A, "GB": fake_A2B, "LB": fake_A2B}
    g_total = 0
    for key in ("GA", "LA", "GB", "LB"):
        logit, cam, _ = nets["dis" + key](fake[key])
        terms[f"g_adv_{key}"], terms[f"g_adv_cam_{key}"] = _mse(logit, 1.0), _mse(cam, 1.0)
        g_total = g_total + weights.adv * (terms[f"g_adv_{key}"] + terms[f"g_adv_cam_{key}"])
    sides = {
        "A": (real_A, fake_A2B2A, fake_A2A, cam_B2A, cam_A2A, fake_A2B),
        "B": (real_B, fake_B2A2B, fake_B2B, cam_A2B, cam_B2B, fake_B2A),
    }
    for domain, (source, cycled, same, cam_into, cam_same, translated) in sides.items():
        terms[f"g_cycle_{domain}"] = F.l1_loss(cycled, source)
        terms[f"g_identity_{domain}"] = F.l1_loss(same, source)
        terms[f"g_cam_{domain}"] = _bce(cam_into, 1.0) + _bce(cam_same, 0.0)
        g_total = g_total + weights.cycle * terms[f"g_cycle_{domain}"]
        g_total = g_total + weights.identity * terms[f"g_identity_{domain}"]
        g_total = g_total + weights.cam * terms[f"g_cam_{domain}"]
        if facenet is not None:
            terms[f"g_face_id_{domain}"] = face_id_distance(facenet, source, translated)
            g_total = g_total + weights.face_id * terms[f"g_face_id_{domain}"]
    terms["g_loss"] = g_total
    g_total.backward()
    g_optim.step()
    _clip_unit_interval(genA2B)
    _clip_unit_interval(genB2A)
    return {name: float(value.detach()) for name, value in terms.items()}


# --- a complete first-step case, written as the original release's files -------------------------------


def make_reference_case(folder, size=96, batch=2, ngf=8, ndf=8, n_blocks=2, seed=0):
    """Random networks saved as `photo2cartoon_weights.pt` and `model_mobilefacenet.pth`, a batch, and the step.

    The discriminators are 7 (global) and 5 (local) layers deep, as released, so `size` must be at least 96.
    Their power-iteration vectors are first moved off their random start by one train-mode call, as in a
    trained checkpoint.

    Returns:
        A dict: `checkpoint`, `face_weights` (paths), `real_A`, `real_B` (NHWC float32 arrays), `terms` (the
        reference step's loss terms by keras-p2c metric name), `after` (path of the six networks after the
        step, in the release's format) and `lr`.
    """
    from pathlib import Path

    folder = Path(folder)
    # One thread: these networks are tiny, and two OpenMP threads on a busy 2-core machine spin-wait
    # (the step takes 2 s on one thread, up to a minute on two).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reference_case(folder, size, batch, ngf, ndf, n_blocks, seed)
    finally:
        torch.set_num_threads(threads)


def _reference_case(folder, size, batch, ngf, ndf, n_blocks, seed):
    import types

    import numpy as np

    from tests.reference.torch_reference import TorchDiscriminator, TorchGenerator, randomize_

    torch.manual_seed(seed)
    nets = {
        "genA2B": randomize_(TorchGenerator(ngf, n_blocks), seed),
        "genB2A": randomize_(TorchGenerator(ngf, n_blocks), seed + 1),
    }
    for name, layers in (("disGA", 7), ("disGB", 7), ("disLA", 5), ("disLB", 5)):
        nets[name] = TorchDiscriminator(ndf, layers).train()
        with torch.no_grad():
            nets[name](torch.rand(1, 3, size, size) * 2 - 1)
    facenet = calibrated_mobilefacenet(seed)
    checkpoint = folder / "photo2cartoon_weights.pt"
    face_weights = folder / "model_mobilefacenet.pth"
    torch.save({name: net.state_dict() for name, net in nets.items()}, checkpoint)
    torch.save(facenet.state_dict(), face_weights)

    rng = np.random.default_rng(seed)
    real_A, real_B = (rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32") for _ in range(2))
    for net in nets.values():
        net.train()
    lr = 1e-4
    g_optim, d_optim = reference_optimizers(nets, lr)
    weights = types.SimpleNamespace(adv=1.0, cycle=50.0, identity=10.0, cam=1000.0, face_id=1.0)
    to_nchw = lambda x: torch.from_numpy(x.transpose(0, 3, 1, 2).copy())  # noqa: E731
    terms = training_step(nets, g_optim, d_optim, to_nchw(real_A), to_nchw(real_B), weights, facenet)
    after = folder / "after_first_step.pt"
    torch.save({name: net.state_dict() for name, net in nets.items()}, after)
    return {
        "checkpoint": str(checkpoint),
        "face_weights": str(face_weights),
        "real_A": real_A,
        "real_B": real_B,
        "terms": terms,
        "after": str(after),
        "lr": lr,
        "options": dict(img_size=size, ngf=ngf, ndf=ndf, n_blocks=n_blocks),
    }


def weight_agreement(networks, expected, lr):
    """Per network: (largest |difference|, fraction of values within 1e-6) of two weight sets.

    After one Adam step every parameter has moved by about ±lr whatever its gradient's size, so a value
    whose total gradient is within float noise of zero may move the other way in another framework (a
    difference of 2·lr); everything else agrees to float precision.

    Args:
        networks: name → list of arrays (a Keras network's `weights`, in order).
        expected: name → Keras model converted from the reference's checkpoint after the step.
        lr: the step's learning rate.
    """
    import numpy as np

    report = {}
    for name, arrays in networks.items():
        reference = [np.asarray(w) for w in expected[name].weights]
        assert len(reference) == len(arrays), name
        differences = np.concatenate([np.abs(np.asarray(a) - b).ravel() for a, b in zip(arrays, reference)])
        report[name] = (float(differences.max()), float(np.mean(differences <= 1e-6)))
    return report
