"""Training and evaluation of one restart."""

import torch

import model
from metrics import test
from network import MLP
from risks import env_risks

N_TRAIN_ENVS = 2


def batches(n, batch_size, generator):
    """Endless shuffled mini-batch indices, epoch after epoch."""
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def andmask_step(net, optimizer, masker, logits, y, env):
    risks = env_risks(logits, y, env, N_TRAIN_ENVS)
    params = [p for p in net.parameters() if p.requires_grad]
    per_env = [torch.autograd.grad(r, params, retain_graph=True) for r in risks.values()]
    optimizer.zero_grad()
    for i, p in enumerate(params):
        p.grad = masker.combine([g[i] for g in per_env])
    optimizer.step()
    return torch.stack(list(risks.values())).mean()


def train(data, objective, args, restart, log):
    torch.manual_seed(args.seed * 100 + restart)
    generator = torch.Generator().manual_seed(args.seed * 100 + restart)
    x, y, env = data["train"]
    net = MLP(in_features=x.shape[1])
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    masker = model.ANDMask(tau=args.tau) if args.trainer == "ANDMask" else None
    objective.train()
    for step, idx in enumerate(batches(len(y), args.batch_size, generator), start=1):
        logits = net(x[idx])
        if masker is not None:
            loss = andmask_step(net, optimizer, masker, logits, y[idx], env[idx])
        else:
            loss = objective(logits, y[idx], env[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if step % args.log_every == 0 or step == args.iterations:
            val = test(net, data["val"])
            log(f"restart {restart} step {step}: train loss {loss.item():.4f}, val accuracy {val['Accuracy']:.4f}")
            log("Curve: " + repr({"restart": restart, "step": step, "train_loss": round(loss.item(), 5),
                                  "val_accuracy": round(val["Accuracy"], 5)}))
        if step == args.iterations:
            break
    objective.eval()
    return net
