"""A PyTorch statement of the Photo2Cartoon networks, written from the reference spec, for tests only.

It exists to produce state dicts with the official key names, shapes and
layouts (NCHW, Linear [out, in], spectral-norm `weight_orig`/`weight_u`/
`weight_v`), and outputs to compare the Keras port with. Module attribute
names are chosen so that `state_dict()` keys equal the released checkpoint's.
"""

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-5


def _instance_norm(channels):
    return nn.InstanceNorm2d(channels, eps=EPS)


def _conv(cin, cout, kernel, stride=1, bias=False):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=0, bias=bias)


def _mix(x, rho):
    """ρ·IN + (1 − ρ)·LN with unbiased variances."""
    in_norm = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + EPS)
    ln_norm = (x - x.mean((1, 2, 3), keepdim=True)) / torch.sqrt(x.var((1, 2, 3), keepdim=True) + EPS)
    return rho * in_norm + (1 - rho) * ln_norm


class AdaptiveMix(nn.Module):  # `adaLIN`
    def __init__(self, channels):
        super().__init__()
        self.rho = nn.Parameter(torch.full((1, channels, 1, 1), 0.9))

    def forward(self, x, gamma, beta):
        return _mix(x, self.rho) * gamma[:, :, None, None] + beta[:, :, None, None]


class LearnedMix(nn.Module):  # `LIN`
    def __init__(self, channels):
        super().__init__()
        self.rho = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return _mix(x, self.rho) * self.gamma + self.beta


class SoftMix(nn.Module):  # `SoftAdaLIN`
    def __init__(self, channels, bias=True):
        super().__init__()
        self.norm = AdaptiveMix(channels)
        self.w_gamma = nn.Parameter(torch.zeros(1, channels))
        self.w_beta = nn.Parameter(torch.zeros(1, channels))
        mlp = lambda: nn.Sequential(  # noqa: E731
            nn.Linear(channels, channels, bias=bias), nn.ReLU(), nn.Linear(channels, channels, bias=bias)
        )
        self.c_gamma, self.c_beta = mlp(), mlp()
        self.s_gamma = nn.Linear(channels, channels, bias=bias)
        self.s_beta = nn.Linear(channels, channels, bias=bias)

    def forward(self, x, content, style):
        gamma = (1 - self.w_gamma) * self.s_gamma(style) + self.w_gamma * self.c_gamma(content)
        beta = (1 - self.w_beta) * self.s_beta(style) + self.w_beta * self.c_beta(content)
        return self.norm(x, gamma, beta)


def _branch(cin, cout):
    return nn.Sequential(_instance_norm(cin), nn.ReLU(), nn.ReflectionPad2d(1), _conv(cin, cout, 3))


class MultiScaleBlock(nn.Module):  # `ConvBlock`, with the dead 1×1 residual the release carries
    def __init__(self, channels):
        super().__init__()
        self.ConvBlock1 = _branch(channels, channels // 2)
        self.ConvBlock2 = _branch(channels // 2, channels // 4)
        self.ConvBlock3 = _branch(channels // 4, channels // 4)
        self.ConvBlock4 = nn.Sequential(_instance_norm(channels), nn.ReLU(), _conv(channels, channels, 1))

    def forward(self, x):
        a = self.ConvBlock1(x)
        b = self.ConvBlock2(a)
        return x + torch.cat([a, b, self.ConvBlock3(b)], 1)


class Hourglass4(nn.Module):  # `HourGlassBlock`
    def __init__(self, channels):
        super().__init__()
        for level in range(1, 5):
            setattr(self, f"ConvBlock{level}_1", MultiScaleBlock(channels))
            setattr(self, f"ConvBlock{level}_2", MultiScaleBlock(channels))
        for index in range(5, 10):
            setattr(self, f"ConvBlock{index}", MultiScaleBlock(channels))

    def forward(self, x):
        skips = []
        for level in range(1, 5):
            skips.append(getattr(self, f"ConvBlock{level}_1")(x))
            x = getattr(self, f"ConvBlock{level}_2")(F.avg_pool2d(x, 2))
        x = self.ConvBlock5(x)
        for index, skip in zip(range(6, 10), reversed(skips)):
            x = F.interpolate(getattr(self, f"ConvBlock{index}")(x), scale_factor=2, mode="nearest") + skip
        return x


class HourglassModule(nn.Module):  # `HourGlass`
    def __init__(self, channels, use_res=True):
        super().__init__()
        self.use_res = use_res
        self.HG = nn.Sequential(
            Hourglass4(channels), MultiScaleBlock(channels), _conv(channels, channels, 1), _instance_norm(channels), nn.ReLU()
        )
        self.Conv1 = _conv(channels, 3, 1, bias=True)
        if use_res:
            self.Conv2 = _conv(channels, channels, 1, bias=True)
            self.Conv3 = _conv(3, channels, 1, bias=True)

    def forward(self, x):
        features = self.HG(x)
        side = self.Conv1(features)
        return x + self.Conv2(features) + self.Conv3(side) if self.use_res else side


class Residual(nn.Module):  # `ResnetBlock`
    def __init__(self, channels):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), _conv(channels, channels, 3), _instance_norm(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), _conv(channels, channels, 3), _instance_norm(channels),
        )  # fmt: skip

    def forward(self, x):
        return x + self.conv_block(x)


class SoftResidual(nn.Module):  # `ResnetSoftAdaLINBlock`
    def __init__(self, channels, bias=True):
        super().__init__()
        # Declared in the release's order, so the state dict lists its keys in the same order.
        self.conv1, self.norm1 = _conv(channels, channels, 3), SoftMix(channels, bias)
        self.conv2, self.norm2 = _conv(channels, channels, 3), SoftMix(channels, bias)

    def forward(self, x, content, style):
        h = F.relu(self.norm1(self.conv1(F.pad(x, [1] * 4, mode="reflect")), content, style))
        return x + self.norm2(self.conv2(F.pad(h, [1] * 4, mode="reflect")), content, style)


class TorchGenerator(nn.Module):
    """Original-release generator (`light=True`); `state_dict()` has the release's 406 keys at 4 blocks.

    `linear_bias=False` gives the PaddleGAN variant (no Linear biases); `to_paddle_state_dict` renames it.
    """

    def __init__(self, ngf=32, n_blocks=4, linear_bias=True):
        super().__init__()
        wide = ngf * 4
        bias = linear_bias
        self.n_blocks = n_blocks
        self.ConvBlock1 = nn.Sequential(nn.ReflectionPad2d(3), _conv(3, ngf, 7), _instance_norm(ngf), nn.ReLU())
        self.HourGlass1, self.HourGlass2 = HourglassModule(ngf), HourglassModule(ngf)
        self.DownBlock1 = nn.Sequential(nn.ReflectionPad2d(1), _conv(ngf, ngf * 2, 3, 2), _instance_norm(ngf * 2), nn.ReLU())
        self.DownBlock2 = nn.Sequential(nn.ReflectionPad2d(1), _conv(ngf * 2, wide, 3, 2), _instance_norm(wide), nn.ReLU())
        for index in range(1, n_blocks + 1):
            setattr(self, f"EncodeBlock{index}", Residual(wide))
        self.gap_fc, self.gmp_fc = nn.Linear(wide, 1, bias=bias), nn.Linear(wide, 1, bias=bias)
        self.conv1x1 = nn.Conv2d(wide * 2, wide, 1)
        self.FC = nn.Sequential(nn.Linear(wide, wide, bias=bias), nn.ReLU(), nn.Linear(wide, wide, bias=bias), nn.ReLU())
        for index in range(1, n_blocks + 1):
            setattr(self, f"DecodeBlock{index}", SoftResidual(wide, bias))
        self.UpBlock1 = nn.Sequential(nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1), _conv(wide, ngf * 2, 3), LearnedMix(ngf * 2), nn.ReLU())
        self.UpBlock2 = nn.Sequential(nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1), _conv(ngf * 2, ngf, 3), LearnedMix(ngf), nn.ReLU())
        self.HourGlass3, self.HourGlass4 = HourglassModule(ngf), HourglassModule(ngf, use_res=False)
        self.ConvBlock2 = nn.Sequential(nn.ReflectionPad2d(3), _conv(3, 3, 7), nn.Tanh())

    def forward(self, x):
        x = self.HourGlass2(self.HourGlass1(self.ConvBlock1(x)))
        x = self.DownBlock2(self.DownBlock1(x))
        contents = []
        for index in range(1, self.n_blocks + 1):
            x = getattr(self, f"EncodeBlock{index}")(x)
            contents.append(x.mean((2, 3)))
        gap_logit = self.gap_fc(x.mean((2, 3)))
        gmp_logit = self.gmp_fc(x.amax((2, 3)))
        weighted = torch.cat([x * self.gap_fc.weight[:, :, None, None], x * self.gmp_fc.weight[:, :, None, None]], 1)
        x = F.relu(self.conv1x1(weighted))
        heatmap = x.sum(1, keepdim=True)
        style = self.FC(x.mean((2, 3)))
        for index, content in zip(range(1, self.n_blocks + 1), reversed(contents)):
            x = getattr(self, f"DecodeBlock{index}")(x, content, style)
        x = self.HourGlass4(self.HourGlass3(self.UpBlock2(self.UpBlock1(x))))
        return self.ConvBlock2(x), torch.cat([gap_logit, gmp_logit], 1), heatmap


def _sn(module):
    return nn.utils.spectral_norm(module)


class TorchDiscriminator(nn.Module):
    """Global (n_layers 7) or local (5) discriminator with torch's own spectral norm."""

    def __init__(self, ndf=32, n_layers=5):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), _sn(_conv(3, ndf, 4, 2, bias=True)), nn.LeakyReLU(0.2)]
        channels = ndf
        for _ in range(1, n_layers - 2):
            layers += [nn.ReflectionPad2d(1), _sn(_conv(channels, channels * 2, 4, 2, bias=True)), nn.LeakyReLU(0.2)]
            channels *= 2
        layers += [nn.ReflectionPad2d(1), _sn(_conv(channels, channels * 2, 4, 1, bias=True)), nn.LeakyReLU(0.2)]
        channels *= 2
        # The release registers `model` last; keep its key order.
        self.gap_fc = _sn(nn.Linear(channels, 1, bias=False))
        self.gmp_fc = _sn(nn.Linear(channels, 1, bias=False))
        self.conv1x1 = nn.Conv2d(channels * 2, channels, 1)
        self.conv = _sn(_conv(channels, 1, 4))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        x = self.model(x)
        gap_logit = self.gap_fc(x.mean((2, 3)))
        gmp_logit = self.gmp_fc(x.amax((2, 3)))
        # The map is weighted by the un-normalised weight, as the release does.
        weighted = torch.cat(
            [x * self.gap_fc.weight_orig[:, :, None, None], x * self.gmp_fc.weight_orig[:, :, None, None]], 1
        )
        x = F.leaky_relu(self.conv1x1(weighted), 0.2)
        heatmap = x.sum(1, keepdim=True)
        return self.conv(F.pad(x, [1] * 4, mode="reflect")), torch.cat([gap_logit, gmp_logit], 1), heatmap


def randomize_(module, seed=0):
    """Random ρ, w and LIN γ/β (their initial values are constants that would hide layout bugs).

    Convolution and Linear weights keep torch's default random initialisation.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith(("rho", "w_gamma", "w_beta")):
                parameter.copy_(torch.rand(parameter.shape, generator=generator))
            elif name.endswith(("gamma", "beta")) and parameter.dim() == 4:
                offset = 0.5 if name.endswith("gamma") else -0.5
                parameter.copy_(torch.rand(parameter.shape, generator=generator) + offset)
    return module


# The PaddleGAN generator's names, from the reference spec's table (prefix renames, in order).
_PADDLE_PREFIXES = [
    ("ConvBlock1.1.", "DownBlock.1."),
    ("HourGlass1.", "DownBlock.4."),
    ("HourGlass2.", "DownBlock.5."),
    ("DownBlock1.1.", "DownBlock.7."),
    ("DownBlock2.1.", "DownBlock.11."),
    ("UpBlock1.2.", "UpBlock.2."),
    ("UpBlock1.3.", "UpBlock.3."),
    ("UpBlock2.2.", "UpBlock.7."),
    ("UpBlock2.3.", "UpBlock.8."),
    ("HourGlass3.", "UpBlock.10."),
    ("HourGlass4.", "UpBlock.11."),
    ("ConvBlock2.1.", "UpBlock.13."),
]


def to_paddle_state_dict(generator):
    """A `linear_bias=False` TorchGenerator as PaddleGAN's `photo2cartoon_genA2B_weight.pdparams` dict."""
    import re

    paddle = {}
    for key, tensor in generator.state_dict().items():
        if ".ConvBlock4." in key:
            continue  # Paddle builds the 1×1 residual only when channels change: never here.
        array = tensor.detach().numpy().copy()
        for old, new in _PADDLE_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        key = re.sub(r"\.ConvBlock(\d)_1\.", r".ConvBlockskip\1.", key)
        key = re.sub(r"\.ConvBlock(\d)_2\.", r".ConvBlock\1.", key)
        key = re.sub(r"\.ConvBlock([123])\.3\.weight$", r".conv_block\1.3.weight", key)
        if array.ndim == 2 and not key.endswith(("w_gamma", "w_beta")):
            array = array.T  # Paddle Linear weights are [in, out].
        paddle[key] = array
    return paddle
