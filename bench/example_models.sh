# The example models the bench scripts validate (built into build/models by the build), and the input
# shape each needs (empty: the model fixes its own). Sourced by validate_models.sh and
# leave_one_model_out.sh.
# shellcheck disable=SC2034
declare -A INPUTS=(
  [mobilenetv2]="input:1,3,224,224"
  [resnet50]="input:1,3,224,224"
  [bert_block]="hidden_states:1,128,768"
  [paddle_cnn]=""
  [paddle_det]="x:1,3,640,640"
  [yolo_det]=""
)
