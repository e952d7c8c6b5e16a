package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/ledger/zk"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/internal/provider"
	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// newZKLinkCmd registers a ceremony's verifying key on the chain, linked
// to a registered model and the weight commitment registered with it:
// what the market's zk jobs are verified with.
func newZKLinkCmd(g *globalFlags) *cobra.Command {
	var tf txFlags
	var from, setup string
	cmd := &cobra.Command{
		Use:   "link MODEL_ID --setup DIR --from OWNER",
		Short: "Register the setup's verifying key on the chain, linked to a model and its weight commitment",
		Long: `Register the verifying key of the finished ceremony in DIR with the chain's zk
module, linked to registered model MODEL_ID and the weight commitment registered
with it (vai model register --zk-commitment, or vai zk commit-model). Only the
model's owner can link a key to it. The market's zk jobs of that model are then
settled on a proof under this key alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			rec, err := pc.Record(cmd.Context(), id)
			if err != nil {
				return err
			}
			if rec == nil || rec.Model == nil {
				return fmt.Errorf("no model %s is registered", id)
			}
			if rec.Model.ZKCommitment == "" {
				return fmt.Errorf("model %s has no zk commitment: set it with vai zk commit-model", id)
			}
			cer, err := zkml.OpenCeremony(setup)
			if err != nil {
				return err
			}
			vk, err := cer.Verifier()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "%s verifying key %s for model %s, commitment %s\n", vk.Backend().Title(), vk.Digest(), id, rec.Model.ZKCommitment)
			msg := zk.MsgRegisterVK{VK: vk.Bytes(), Model: string(id), Commitment: rec.Model.ZKCommitment}
			if vk.Backend() == zkml.BackendPlonk {
				msg.Backend = zkml.BackendPlonk
			}
			return g.sendMsg(cmd.Context(), &tf, from, "zk/register_vk", msg)
		},
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the model owner's key (required)")
	cmd.Flags().StringVar(&setup, "setup", "", "finished ceremony directory (required)")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("setup")
	return cmd
}

// newZKCommitModelCmd sets a registered model's weight commitment.
func newZKCommitModelCmd(g *globalFlags) *cobra.Command {
	var tf txFlags
	var from, saltFile, artifact string
	cmd := &cobra.Command{
		Use:   "commit-model MODEL_ID --artifact FILE --salt FILE --from OWNER",
		Short: "Record the weight commitment of a registered model (once; its owner only)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			m, err := loadZKModel(artifact)
			if err != nil {
				return err
			}
			salt, err := readSalt(saltFile, true)
			if err != nil {
				return err
			}
			c, err := zkml.Commit(m, salt)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "commitment %s\n", zkml.FieldHex(c))
			return g.sendMsg(cmd.Context(), &tf, from, "registry/set_zk_commitment", registry.MsgSetZKCommitment{Model: id, Commitment: zkml.FieldHex(c)})
		},
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the model owner's key (required)")
	cmd.Flags().StringVar(&saltFile, "salt", "", "salt file (created if missing; keep it: providers prove with it) (required)")
	cmd.Flags().StringVar(&artifact, "artifact", "", "the model's .vaim (required)")
	for _, r := range []string{"from", "salt", "artifact"} {
		cmd.MarkFlagRequired(r)
	}
	return cmd
}

// parseZKFlags reads --zk MODEL=SETUP_DIR:SALT_FILE flags into provers.
func parseZKFlags(ss []string) (map[string]*provider.ZKProver, error) {
	out := map[string]*provider.ZKProver{}
	for _, s := range ss {
		model, rest, ok := strings.Cut(s, "=")
		dir, saltFile, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			return nil, fmt.Errorf("--zk %q: want MODEL=SETUP_DIR:SALT_FILE", s)
		}
		if _, err := registry.ParseID(model); err != nil {
			return nil, fmt.Errorf("--zk: %w", err)
		}
		salt, err := readSalt(saltFile, false)
		if err != nil {
			return nil, fmt.Errorf("--zk %s: %w", model, err)
		}
		p, err := provider.LoadZKProver(dir, salt)
		if err != nil {
			return nil, fmt.Errorf("--zk %s: %w", model, err)
		}
		out[model] = p
	}
	return out, nil
}

// zkJobInput turns a buyer's input file into a zk job's input: one
// sample, quantised with the model's public artifact (or int8 already,
// with quantized), in canonical form (zk.ZKInput).
func zkJobInput(ctx context.Context, pc *provenance.Client, model registry.ID, data []byte, quantized bool) ([]byte, error) {
	var o market.Offer
	if _, err := pc.Chain.Query(ctx, "/market/offer", map[string]any{"model": model}, &o, 0); err != nil {
		return nil, err
	}
	if o.PublicCID == "" && !quantized {
		return nil, fmt.Errorf("model %s's artifact is not public: quantise the input yourself and pass --quantized", model)
	}
	var size int
	var m *vairt.Model
	if o.PublicCID != "" {
		art, err := pc.GetBlob(ctx, o.PublicCID, 1<<30)
		if err != nil {
			return nil, err
		}
		if m, err = vairt.Decode(art); err != nil {
			return nil, err
		}
		size = m.Input.Size()
	}
	rows, err := vairt.ReadSamples(bytes.NewReader(data), max(size, 1))
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("a zk job proves one sample; the input has %d", len(rows))
	}
	var x []int8
	if quantized {
		x, err = vairt.ParseQuantized(rows)
	} else {
		x, err = m.QuantizeRows(rows, false)
	}
	if err != nil {
		return nil, err
	}
	return zk.ZKInput(x), nil
}

// newZKJobProofCmd writes the proof a zk job was settled on.
func newZKJobProofCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	var setup, out string
	cmd := &cobra.Command{
		Use:   "job-proof JOB --setup DIR -o PROOF",
		Short: "Write the proof a zk job was settled on, from the chain's record (verify it anywhere)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			j, err := jobByID(cmd.Context(), pc.Chain, args[0])
			if err != nil {
				return err
			}
			id := j.ID
			rec, err := pc.Record(cmd.Context(), j.Model)
			if err != nil {
				return err
			}
			if rec == nil || rec.Model == nil || rec.Model.ZKCommitment == "" {
				return fmt.Errorf("model %s has no zk commitment", j.Model)
			}
			p, vkID, err := zk.JobProof(j, rec.Model.ZKCommitment)
			if err != nil {
				return err
			}
			cer, err := zkml.OpenCeremony(setup)
			if err != nil {
				return err
			}
			c, err := cer.Circuit()
			if err != nil {
				return err
			}
			vk, err := cer.Verifier()
			if err != nil {
				return err
			}
			if d := vk.Digest(); d != vkID {
				return fmt.Errorf("job %d was proved under verifying key %s, not this setup's", id, vkID)
			}
			// The chain keeps the proof's bytes; its key says which system.
			p.SetBytes(vk.Backend(), p.Bytes())
			p.Circuit = c.ID()
			b, err := p.MarshalJSON()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
				return err
			}
			g.printf("wrote %s: job %d's proof (job id %s), verifying key %s\n", out, id, market.ZKJobID(id), vkID)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&setup, "setup", "", "the ceremony the model's key came from (required)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "proof file to write (required)")
	cmd.MarkFlagRequired("setup")
	cmd.MarkFlagRequired("out")
	return cmd
}
