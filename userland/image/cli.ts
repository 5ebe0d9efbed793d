// `smgw image build|boot|stop`: the command-line side of the test image.
import path from "node:path";
import { parseArgs } from "node:util";
import { defaultInputDirs } from "./inputs.ts";

export const IMAGE_USAGE = `  smgw image build [--policy FILE] [--generated DIR] [--selinux DIR]
      build the Debian test image (root; mmdebstrap, SELinux module, ext4 image)
  smgw image boot [--name NAME] [--fresh] [--gateway-disabled]
      boot it in QEMU with its NICs in namespaces NAME-wan, NAME-lmn, NAME-han and a
      software TPM (root); prints the console; runs until Ctrl-C or 'smgw image stop'
  smgw image stop [--name NAME]
      stop a booted image, its TPM, taps and namespaces`;

export class ImageUsageError extends Error {
  override name = "ImageUsageError";
}

type Out = (line: string) => void;

function options<T extends Record<string, { type: "string" | "boolean"; default?: string }>>(
  args: string[],
  spec: T,
) {
  try {
    return parseArgs({ args, options: spec, strict: true, allowPositionals: false });
  } catch (e) {
    throw new ImageUsageError((e as Error).message);
  }
}

export async function runImageCli(args: string[], repoRoot: string, out: Out): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "build": {
      const { values } = options(rest, {
        policy: { type: "string", default: path.join(repoRoot, "policy", "smgw.policy.yaml") },
        generated: { type: "string" },
        selinux: { type: "string" },
      });
      const dirs = defaultInputDirs(repoRoot);
      const { buildImage } = await import("./build.ts");
      await buildImage({
        repoRoot,
        policyFile: path.resolve(String(values.policy)),
        inputDirs: {
          generated: values.generated ? path.resolve(values.generated) : dirs.generated,
          selinux: values.selinux ? path.resolve(values.selinux) : dirs.selinux,
        },
        out,
      });
      return 0;
    }
    case "boot": {
      const { values } = options(rest, {
        name: { type: "string", default: "smgwvm" },
        fresh: { type: "boolean" },
        "gateway-disabled": { type: "boolean" },
      });
      const { bootInteractive } = await import("./boot.ts");
      await bootInteractive({
        name: String(values.name),
        repoRoot,
        fresh: values.fresh === true,
        gatewayDisabled: values["gateway-disabled"] === true,
        out,
      });
      return 0;
    }
    case "stop": {
      const { values } = options(rest, { name: { type: "string", default: "smgwvm" } });
      const { stopMachine } = await import("./boot.ts");
      await stopMachine(String(values.name), repoRoot, out);
      return 0;
    }
    default:
      throw new ImageUsageError(
        `unknown image command "${sub ?? ""}" (try: smgw image build, boot, stop)`,
      );
  }
}
