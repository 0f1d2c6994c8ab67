"""lecturelib.transformer: language models and transformers (lesson 05) and in-context learning
(lesson 06).

Modules, in the order of the lecture:

- :mod:`.tokenizers`      characters, words, and byte-pair subwords (Sennrich et al. 2016)
- :mod:`.data`            the slide's prefix table, the offline pydoc corpus, next-token batches, n-gram baselines
- :mod:`.attention`       positional encoding, scaled dot-product attention, causal mask, multi-head attention
- :mod:`.blocks`          position-wise FFN, pre-norm encoder and decoder blocks
- :mod:`.encoder_decoder` the full transformer of Vaswani et al. (2017)
- :mod:`.gpt`             the decoder-only GPT (Radford et al. 2018), sampling
- :mod:`.training`        the training loop and held-out nats per character
- :mod:`.scaling`         the foundation-model table and the compute-optimal line (Hoffmann et al. 2022)
- :mod:`.icl`             in-context learning of a task family (Brown et al. 2020; Garg et al. 2022)
- :mod:`.lsa`             linear self-attention = one gradient-descent step (von Oswald et al. 2023; Dai et al. 2023)
- :mod:`.finetune`        in-context learning vs fine-tuning: predictions and latent changes (Dai et al. 2023)
- :mod:`.operators`       the pizza operator family, solved in context
"""
from .attention import (
    ATTENTION_IMPLS,
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
)
from .blocks import DecoderBlock, EncoderBlock, FeedForward
from .data import (
    EIFFEL,
    NGramBaseline,
    bigram_nats,
    encode_corpus,
    load_pydoc_corpus,
    prefix_pairs,
    random_batch,
    unigram_nats,
    uniform_nats,
)
from .encoder_decoder import Decoder, Encoder, Transformer, TransformerConfig, reversal_batch, train_seq2seq
from .gpt import GPT, GPTConfig, sample
from .icl import (
    ICLTrainConfig,
    ICLTransformer,
    LinearRegressionTasks,
    best_gd_step_size,
    error_by_k,
    gd_step_predictions,
    interleave,
    least_squares_predictions,
    ridge_predictions,
    train_icl,
)
from .lsa import (
    LinearSelfAttention,
    gd_lsa_weights,
    implicit_weight_update,
    linear_self_attention,
    lsa_tokens,
    train_lsa,
)
from .operators import PIZZA, PIZZA_ANSWER, PIZZA_QUERY, PIZZA_SUPPORT, OperatorTasks, SupportAttentionICL, pizza
from .tokenizers import CharTokenizer, WordTokenizer, bpe_encode, learn_bpe, word_split
from .training import TrainConfig, TrainResult, evaluate_nats, evaluate_nats_full, lr_schedule, train_gpt
from .scaling import (
    CHINCHILLA_TOKENS_PER_PARAM,
    FOUNDATION_MODELS,
    FoundationModel,
    compute_optimal_tokens,
    tokens_per_parameter,
    training_flops,
)
from .finetune import FinetuneConfig, finetune_on_support, icl_vs_finetune
