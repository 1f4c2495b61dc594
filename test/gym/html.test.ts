import * as vega from "vega";
import { describe, expect, it } from "vitest";
import { parseGymConfig } from "../../src/gym/config.js";
import { renderGymReport } from "../../src/gym/html.js";
import { runSynthetic } from "../../src/gym/synthetic.js";
import { ROOT } from "../helpers/fixtures.js";

const law = (E: number, B: number, beta: number, tokens: number) => ({ E, B, beta, tokens });

describe("gym HTML report", () => {
  it("is one offline page with the paired table, the oracle and three charts that Vega draws", async () => {
    const g = parseGymConfig(
      {
        seq_len: 64,
        batch_size: 4,
        tokenizer: { path: "unused.json" },
        domains: ["a", "b", "c"].map((name) => ({ name, sources: [{ type: "text", path: "unused" }] })),
        gym: { steps: 40, eval_every: 10, synthetic: { laws: { a: law(2, 30, 0.3, 1e5), b: law(3, 10, 0.2, 5e4), c: law(1.5, 60, 0.4, 1e4) } } },
      },
      ROOT,
    );
    const r = runSynthetic(g, { mixers: ["uniform", "doremi", "odm"], seeds: 2 });
    const html = renderGymReport(r);
    expect(html).not.toMatch(/<script src=/); // everything inline: opens offline
    expect(html).toContain("Paired comparison with uniform");
    expect(html).toContain("Regret against the oracle");
    expect(html).toMatch(/<td>doremi<\/td>/);
    const specs = JSON.parse(/<script type="application\/json" id="gym-specs">([\s\S]*?)<\/script>/.exec(html)![1]) as Record<string, vega.Spec>;
    expect(Object.keys(specs)).toEqual(["weights", "mean", "worst_excess"]);
    for (const spec of Object.values(specs)) {
      const view = new vega.View(vega.parse(spec), { renderer: "none" });
      await view.runAsync();
      const svg = await view.toSVG();
      view.finalize();
      expect(svg).toMatch(/<path|<line/);
    }
    // the oracle's mixture is drawn as the guide in the weights chart
    expect(JSON.stringify(specs.weights)).toContain('"kind":"guide"');
  });
});
